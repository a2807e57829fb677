-- The collation backfill (app/services/collations.py, issue #21 item 6): the updates of a
-- batch and the marker migration 0111 leaves (dialect files: the batches' reads and writes).

-- name: get_pending_backfill(backfill_name)^
-- The marker of a backfill still to run, or None.
SELECT name FROM pending_backfills WHERE name = :backfill_name;

-- name: delete_pending_backfill(backfill_name)!
-- The backfill has run to the end.
DELETE FROM pending_backfills WHERE name = :backfill_name;

-- Maintenance (services/blob_sweep.py, services/store_identity.py): released files, the
-- sweep's lock, the store identity (issue #15). Dialect files: <dialect>/maintenance.sql.

-- name: list_released_blobs(max_rows)
-- Files a DELETE released whose removal did not finish (a crash, a failed unlink).
SELECT blob_key FROM blobs WHERE ref_count <= 0 ORDER BY blob_key LIMIT :max_rows;

-- name: claim_unreferenced_blob(blob_key, created_date)^
-- The sweep's lock on a file no row references: a row without references, inserted only if
-- there is none (a STOW inserting the same key waits for this transaction, or this one waits
-- for the STOW and inserts nothing); the key when inserted.
INSERT INTO blobs (blob_key, size, ref_count, created_date)
VALUES (:blob_key, 0, 0, :created_date)
ON CONFLICT (blob_key) DO NOTHING
RETURNING blob_key;

-- name: get_store_identity()^
SELECT identity FROM store_identity WHERE singleton = 1;

-- name: add_store_identity(identity)!
-- The first start's identity; a concurrent first start's insert wins as well as this one.
INSERT INTO store_identity (singleton, identity) VALUES (1, :identity)
ON CONFLICT (singleton) DO NOTHING;

-- name: claim_periodic_blob_sweep(started, due_before)!
-- The periodic sweep of this interval, for this node: only if no node started one since
-- due_before (one row count: 1 claimed, 0 another node swept lately).
UPDATE blob_sweep_schedule SET last_started = :started
 WHERE singleton = 1 AND (last_started IS NULL OR last_started < :due_before);

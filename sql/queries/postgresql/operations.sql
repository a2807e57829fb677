-- Operations: claiming and locking, PostgreSQL flavour (row locks, advisory lock).

-- name: find_claimable_operation(stale_before)^
-- The oldest operation no live worker holds: not started, or running with an expired lease.
-- SKIP LOCKED lets several processes claim different operations without waiting.
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE status = 'notStarted'
    OR (status = 'running' AND (heartbeat IS NULL OR heartbeat < :stale_before))
 ORDER BY created_time
 LIMIT 1
 FOR UPDATE SKIP LOCKED;

-- name: lock_extended_query_tags()^
-- Serialise tag additions (transaction-scoped advisory lock) so that two concurrent requests
-- cannot both start a re-index.
SELECT pg_advisory_xact_lock(746572007) AS locked;

-- name: lock_extended_query_tags_shared()^
-- Taken by every store transaction before it reads the tag definitions: adding or deleting a
-- tag (the exclusive lock above) waits for stores in flight, so a store either sees a new tag
-- or commits before the tag exists (and the re-index then sees the instance).
SELECT pg_advisory_xact_lock_shared(746572007) AS locked;

-- Operations: claiming and locking, SQLite flavour. Write transactions are BEGIN IMMEDIATE,
-- which already holds the database's single write lock: no row locks needed.

-- name: find_claimable_operation(stale_before)^
-- The oldest operation no live worker holds: not started, or running with an expired lease.
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE status = 'notStarted'
    OR (status = 'running' AND (heartbeat IS NULL OR heartbeat < :stale_before))
 ORDER BY created_time
 LIMIT 1;

-- name: lock_extended_query_tags()^
-- Serialise tag additions: the write transaction (BEGIN IMMEDIATE) already does.
SELECT 1 AS locked;

-- name: lock_extended_query_tags_shared()^
-- Store transactions are write transactions too: SQLite already serialises them.
SELECT 1 AS locked;

-- Operations: claiming and locking, SQLite flavour. Write transactions are BEGIN IMMEDIATE,
-- which already holds the database's single write lock: no row locks needed.

-- name: find_claimable_operation(stale_before)^
-- The oldest operation no live worker holds: not started, or running with an expired lease
-- (a heartbeat before stale_before: the one machine's clock).
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE status = 'notStarted'
    OR (status = 'running' AND (heartbeat IS NULL OR heartbeat < :stale_before))
 ORDER BY created_time
 LIMIT 1;

-- name: claim_operation(operation_id, owner, now)!
-- Take an operation for this worker (its lease lasts while the heartbeat is fresh).
UPDATE operations
   SET status = 'running', owner = :owner, heartbeat = :now, last_updated_time = :now
 WHERE operation_id = :operation_id;

-- name: update_operation_progress(operation_id, owner, percent_complete, payload, now)!
-- Record progress and renew the lease; 0 rows means another worker took the operation over.
UPDATE operations
   SET percent_complete = :percent_complete, payload = :payload, heartbeat = :now,
       last_updated_time = :now
 WHERE operation_id = :operation_id AND owner = :owner AND status = 'running';

-- name: lock_extended_query_tags()^
-- Serialise tag additions: the write transaction (BEGIN IMMEDIATE) already does.
SELECT 1 AS locked;

-- name: lock_extended_query_tags_shared()^
-- Store transactions are write transactions too: SQLite already serialises them.
SELECT 1 AS locked;

-- Operations: claiming and locking, PostgreSQL flavour (row locks, advisory lock).

-- Heartbeats are the database's clock (clock_timestamp()), not the nodes': a lease expires by
-- one clock however far the nodes' clocks are apart (several nodes, issue #17).

-- name: find_claimable_operation(lease_seconds)^
-- The oldest operation no live worker holds: not started, or running with an expired lease
-- (no heartbeat for lease_seconds). SKIP LOCKED lets several processes claim different
-- operations without waiting.
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE status = 'notStarted'
    OR (status = 'running'
        AND (heartbeat IS NULL
             OR heartbeat < clock_timestamp() - make_interval(secs => :lease_seconds)))
 ORDER BY created_time
 LIMIT 1
 FOR UPDATE SKIP LOCKED;

-- name: claim_operation(operation_id, owner, now)!
-- Take an operation for this worker (its lease lasts while the heartbeat is fresh).
UPDATE operations
   SET status = 'running', owner = :owner, heartbeat = clock_timestamp(),
       last_updated_time = :now
 WHERE operation_id = :operation_id;

-- name: update_operation_progress(operation_id, owner, percent_complete, payload, now)!
-- Record progress and renew the lease; 0 rows means another worker took the operation over.
UPDATE operations
   SET percent_complete = :percent_complete, payload = :payload, heartbeat = clock_timestamp(),
       last_updated_time = :now
 WHERE operation_id = :operation_id AND owner = :owner AND status = 'running';

-- name: lock_extended_query_tags()^
-- Serialise tag additions (transaction-scoped advisory lock) so that two concurrent requests
-- cannot both start a re-index.
SELECT pg_advisory_xact_lock(746572007) AS locked;

-- name: lock_extended_query_tags_shared()^
-- Taken by every store transaction before it reads the tag definitions: adding or deleting a
-- tag (the exclusive lock above) waits for stores in flight, so a store either sees a new tag
-- or commits before the tag exists (and the re-index then sees the instance).
SELECT pg_advisory_xact_lock_shared(746572007) AS locked;

-- Long-running operations (reference.md §9): a job table polled by app/worker.py.
-- Claiming and heartbeats differ per dialect (sql/queries/{postgresql,sqlite}/operations.sql).
-- status: notStarted, running, succeeded, failed, canceled.

-- name: add_operation(operation_id, operation_type, status, created_time, resources, payload)!
-- Queue an operation.
INSERT INTO operations (operation_id, operation_type, status, created_time, last_updated_time,
                        percent_complete, resources, payload)
VALUES (:operation_id, :operation_type, :status, :created_time, :created_time, 0, :resources,
        :payload);

-- name: get_operation(operation_id)^
-- The operation with this id, or None.
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE operation_id = :operation_id;

-- name: find_active_operation(operation_type)^
-- The oldest operation of this type that has not finished, or None.
SELECT operation_id, operation_type, status, created_time, last_updated_time, percent_complete,
       resources, results, payload, owner, heartbeat
  FROM operations
 WHERE operation_type = :operation_type AND status IN ('notStarted', 'running')
 ORDER BY created_time
 LIMIT 1;

-- name: complete_operation(operation_id, owner, status, percent_complete, results, now)!
-- Finish an operation (succeeded or failed).
UPDATE operations
   SET status = :status, percent_complete = :percent_complete, results = :results,
       heartbeat = NULL, last_updated_time = :now
 WHERE operation_id = :operation_id AND owner = :owner AND status = 'running';

-- name: release_operation(operation_id, owner, payload, now)!
-- Give an operation back (worker stopping, or a retryable failure): any worker may claim it.
UPDATE operations
   SET heartbeat = NULL, owner = NULL, payload = :payload, last_updated_time = :now
 WHERE operation_id = :operation_id AND owner = :owner AND status = 'running';

-- name: count_operations()
-- How many operations there are of each type and status (the metrics' gauge).
SELECT operation_type, status, COUNT(*) AS operation_count
  FROM operations
 GROUP BY operation_type, status
 ORDER BY operation_type, status;

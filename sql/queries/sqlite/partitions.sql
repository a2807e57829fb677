-- Partition row locks on SQLite (partition deletion's last step, PATCH).

-- name: lock_partition_for_removal(partition_key)^
-- SQLite serializes write transactions: nothing to lock.
SELECT status FROM partitions WHERE partition_key = :partition_key;

-- name: get_partition_for_update(partition_name)^
-- SQLite serializes write transactions: get_partition, nothing to lock.
SELECT partition_key, partition_name, created_date, max_instances, max_bytes, status
  FROM partitions
 WHERE lower(partition_name) = lower(:partition_name) AND status <> 2;

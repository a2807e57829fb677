-- Partition row locks on PostgreSQL (partition deletion's last step, PATCH).

-- name: lock_partition_for_removal(partition_key)^
-- Lock the partition row until commit: waits for the stores that passed
-- lock_partition_for_store (their rows are visible to the next statement), and makes later
-- ones wait and then read the deleted status.
SELECT status FROM partitions WHERE partition_key = :partition_key FOR UPDATE;

-- name: get_partition_for_update(partition_name)^
-- get_partition, its row locked until commit against other changes of it (PATCH, DELETE),
-- not against stores (their key-share lock): a rename or quota change then reads what a
-- concurrent one wrote (the name is matched again after the wait).
SELECT partition_key, partition_name, created_date, max_instances, max_bytes, status
  FROM partitions
 WHERE lower(partition_name) = lower(:partition_name) AND status <> 2
   FOR NO KEY UPDATE;

-- Partition deletion on PostgreSQL: the lock of its last step.

-- name: lock_partition_for_removal(partition_key)^
-- Lock the partition row until commit: waits for the stores that passed
-- lock_partition_for_store (their rows are visible to the next statement), and makes later
-- ones wait and then read the deleted status.
SELECT status FROM partitions WHERE partition_key = :partition_key FOR UPDATE;

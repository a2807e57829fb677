-- Partition deletion on SQLite: the lock of its last step.

-- name: lock_partition_for_removal(partition_key)^
-- SQLite serializes write transactions: nothing to lock.
SELECT status FROM partitions WHERE partition_key = :partition_key;

-- Partition quotas (issue #20): the most instances and bytes (the sum of their file sizes, as
-- partition_statistics.stored_bytes) a partition may hold; NULL = no limit.
ALTER TABLE partitions ADD COLUMN max_instances BIGINT;
ALTER TABLE partitions ADD COLUMN max_bytes BIGINT;

-- Data partitions (light-weight multitenancy).
-- Mirrors the reference's Sprocs/AddPartition.sql, GetPartition.sql, GetPartitions.sql.

-- name: get_partition(partition_name)^
-- The partition with this name (case-insensitive), or None.
SELECT partition_key, partition_name, created_date
  FROM partitions
 WHERE lower(partition_name) = lower(:partition_name);

-- name: list_partitions()
-- Every partition, ordered by key.
SELECT partition_key, partition_name, created_date
  FROM partitions
 ORDER BY partition_key;

-- name: add_partition(partition_name, created_date)!
-- Insert a partition unless one with the same name (any case) exists; returns the row count.
INSERT INTO partitions (partition_name, created_date)
VALUES (:partition_name, :created_date)
ON CONFLICT DO NOTHING;

-- name: count_partitions()^
-- The number of partitions, the default one included.
SELECT count(*) AS partition_count FROM partitions;

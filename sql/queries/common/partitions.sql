-- Data partitions (light-weight multitenancy).
-- Mirrors the reference's Sprocs/AddPartition.sql, GetPartition.sql, GetPartitions.sql.

-- name: get_partition(partition_name)^
-- The partition with this name (case-insensitive), or None; deleted ones have no name.
SELECT partition_key, partition_name, created_date, max_instances, max_bytes, status
  FROM partitions
 WHERE lower(partition_name) = lower(:partition_name) AND status <> 2;

-- name: get_partition_by_key(partition_key)^
-- The partition with this key (a deleted one too), or None.
SELECT partition_key, partition_name, created_date, max_instances, max_bytes, status
  FROM partitions
 WHERE partition_key = :partition_key;

-- name: list_partitions()
-- Every partition that is not deleted, ordered by key.
SELECT partition_key, partition_name, created_date, max_instances, max_bytes, status
  FROM partitions
 WHERE status <> 2
 ORDER BY partition_key;

-- name: add_partition(partition_name, created_date)!
-- Insert a partition unless one with the same name (any case) exists; returns the row count.
INSERT INTO partitions (partition_name, created_date)
VALUES (:partition_name, :created_date)
ON CONFLICT DO NOTHING;

-- name: count_partitions()^
-- The number of partitions that are not deleted, the default one included.
SELECT count(*) AS partition_count FROM partitions WHERE status <> 2;

-- name: get_partition_statistics(partition_key)^
-- A partition's statistics: the sum of its slots (sql/schema/*/0080_partition_statistics.sql).
SELECT COALESCE(sum(studies), 0) AS studies, COALESCE(sum(series), 0) AS series,
       COALESCE(sum(instances), 0) AS instances,
       COALESCE(sum(stored_bytes), 0) AS stored_bytes,
       COALESCE(sum(disk_bytes), 0) AS disk_bytes, max(last_stored_date) AS last_stored_date
  FROM partition_statistics
 WHERE partition_key = :partition_key;

-- name: list_partition_statistics()
-- The statistics of every partition that has any.
SELECT partition_key, sum(studies) AS studies, sum(series) AS series,
       sum(instances) AS instances, sum(stored_bytes) AS stored_bytes,
       sum(disk_bytes) AS disk_bytes, max(last_stored_date) AS last_stored_date
  FROM partition_statistics
 GROUP BY partition_key;

-- name: rename_partition(partition_key, partition_name)!
-- Give a partition another name; the unique index on lower(partition_name) refuses a name
-- another partition has (any case).
UPDATE partitions SET partition_name = :partition_name WHERE partition_key = :partition_key;

-- name: set_partition_quota(partition_key, max_instances, max_bytes)!
-- Replace a partition's quota (NULL = no limit).
UPDATE partitions SET max_instances = :max_instances, max_bytes = :max_bytes
 WHERE partition_key = :partition_key;

-- name: get_partition_usage(partition_key)^
-- A partition's quota and what counts against it, read in the store transaction after
-- lock_partition_quota (so every store checked against it sees the ones before it).
SELECT p.max_instances, p.max_bytes,
       (SELECT COALESCE(sum(s.instances), 0) FROM partition_statistics s
         WHERE s.partition_key = p.partition_key) AS instances,
       (SELECT COALESCE(sum(s.stored_bytes), 0) FROM partition_statistics s
         WHERE s.partition_key = p.partition_key) AS stored_bytes
  FROM partitions p
 WHERE p.partition_key = :partition_key;

-- name: mark_partition_deleting(partition_key)!
-- Start deleting an active partition (stores are refused from now on); 0 rows when it is
-- already being deleted.
UPDATE partitions SET status = 1 WHERE partition_key = :partition_key AND status = 0;

-- name: reopen_partition(partition_key)!
-- A deletePartition operation that failed for good gives the partition back (active).
UPDATE partitions SET status = 0 WHERE partition_key = :partition_key AND status = 1;

-- name: list_partition_study_uids(partition_key, limit)
-- A page of the partition's studies (those left to delete), oldest first.
SELECT study_instance_uid FROM studies
 WHERE partition_key = :partition_key
 ORDER BY study_key
 LIMIT :limit;

-- name: count_partition_studies(partition_key)^
-- Whether the partition has any study left (0 or 1).
SELECT count(*) AS study_count
  FROM (SELECT 1 FROM studies WHERE partition_key = :partition_key LIMIT 1) AS s;

-- name: delete_partition_workitems(partition_key)!
-- Remove the partition's workitems (their sequence values cascade).
DELETE FROM workitems WHERE partition_key = :partition_key;

-- name: delete_partition_study_name_words(partition_key)!
-- Remove the partition's person-name words (QIDO fuzzy matching).
DELETE FROM study_name_words WHERE partition_key = :partition_key;

-- name: delete_partition_extended_query_tag_string(partition_key)!
-- Remove the partition's extended query tag values left (each study's went with it).
DELETE FROM extended_query_tag_string WHERE partition_key = :partition_key;

-- name: delete_partition_extended_query_tag_long(partition_key)!
DELETE FROM extended_query_tag_long WHERE partition_key = :partition_key;

-- name: delete_partition_extended_query_tag_double(partition_key)!
DELETE FROM extended_query_tag_double WHERE partition_key = :partition_key;

-- name: delete_partition_extended_query_tag_datetime(partition_key)!
DELETE FROM extended_query_tag_datetime WHERE partition_key = :partition_key;

-- name: delete_partition_extended_query_tag_person_name(partition_key)!
DELETE FROM extended_query_tag_person_name WHERE partition_key = :partition_key;

-- name: delete_partition_statistics(partition_key)!
DELETE FROM partition_statistics WHERE partition_key = :partition_key;

-- name: tombstone_partition(partition_key)!
-- The partition is deleted: its row stays for the change feed, its name is free.
UPDATE partitions SET status = 2, max_instances = NULL, max_bytes = NULL
 WHERE partition_key = :partition_key;

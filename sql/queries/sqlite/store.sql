-- The store path on SQLite. SQLite has no data-modifying CTEs (Engine.data_modifying_ctes), so
-- postgresql/store.sql's add_instance_rows has no SQLite form: dao.instances.add_instance runs
-- the step-by-step queries of ../common/instances.sql here (an embedded database has no round
-- trips to save).

-- name: get_instance_statuses(partition_key, sop_instance_uids)
-- The UIDs and status of the partition's instances with these SOP instance UIDs (a JSON array:
-- Engine.list_parameter); a multipart STOW checks its parts with it in one query.
SELECT study_instance_uid, series_instance_uid, sop_instance_uid, status FROM instances
 WHERE partition_key = :partition_key
   AND sop_instance_uid IN (SELECT value FROM json_each(:sop_instance_uids));

-- name: get_instance_status_locking_tags(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- get_instance_status, and the partition's check of lock_partition_for_store below (as on
-- PostgreSQL); SQLite serialises write transactions, so there is no lock to take
-- (lock_extended_query_tags_shared in operations.sql).
SELECT 1 AS locked,
       (SELECT status FROM instances
         WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
           AND series_instance_uid = :series_instance_uid
           AND sop_instance_uid = :sop_instance_uid) AS status,
       p.status AS partition_status, p.max_instances, p.max_bytes
  FROM (SELECT 1) AS one LEFT JOIN partitions AS p ON p.partition_key = :partition_key;

-- name: get_instance_status_by_partition_name(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- get_instance_status_locking_tags for a partition given by name (as on PostgreSQL): the
-- partition found as get_partition finds it (partition_key None: no such partition), and
-- the instance's status in it.
SELECT 1 AS locked, i.status, p.partition_key, p.partition_name, p.created_date,
       p.status AS partition_status, p.max_instances, p.max_bytes
  FROM (SELECT 1) AS one
  LEFT JOIN partitions AS p
    ON lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
  LEFT JOIN instances AS i
    ON i.partition_key = p.partition_key AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.sop_instance_uid = :sop_instance_uid;

-- name: lock_study_for_store(study_lock_key)
-- SQLite serializes write transactions: there is nothing to lock.
SELECT :study_lock_key AS locked;

-- name: lock_partition_quota(partition_key)
-- SQLite serializes write transactions: there is nothing to lock.
SELECT :partition_key AS locked;

-- name: lock_partition_for_store(partition_key)^
-- The partition's status and quota (SQLite serializes write transactions: nothing to lock).
SELECT status, max_instances, max_bytes FROM partitions WHERE partition_key = :partition_key;

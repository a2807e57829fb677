-- Bulk update, SQLite: BEGIN IMMEDIATE already serializes writers, so no row locks are needed.

-- name: lock_study_for_update(partition_key, study_instance_uid)^
-- The study's key, or None (the write transaction holds the database lock).
SELECT study_key FROM studies
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid;

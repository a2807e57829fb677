-- DELETE, SQLite: BEGIN IMMEDIATE already serializes writers, so no row locks are needed.

-- name: lock_study_for_delete(partition_key, study_instance_uid)^
-- The study's key, or None (the write transaction holds the database lock).
SELECT study_key FROM studies
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid;

-- name: lock_blobs_for_delete(study_key)
-- Nothing to lock in SQLite; returns the marked instances' file keys (current and original).
SELECT blob_key FROM instances WHERE study_key = :study_key AND status = 2
UNION
SELECT original_blob_key FROM instances
 WHERE study_key = :study_key AND status = 2 AND original_blob_key IS NOT NULL;

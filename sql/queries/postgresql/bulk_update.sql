-- Bulk update, PostgreSQL: the study lock that serializes an update with STOW and DELETE.

-- name: lock_study_for_update(partition_key, study_instance_uid)^
-- The study's key, locked until commit, or None. Conflicts with the key-share lock a STOW into
-- the study takes and with a DELETE's lock (lock_study_for_delete), so they wait for each other.
SELECT study_key FROM studies
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   FOR UPDATE;

-- DELETE, PostgreSQL: row locks that serialize a delete with a concurrent STOW of the study.

-- name: lock_study_for_delete(partition_key, study_instance_uid)^
-- The study's key, locked until commit, or None. STOW waits for it: its study upsert takes
-- a conflicting lock, and a store that leaves the study row unchanged key-share locks it.
SELECT study_key FROM studies
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   FOR UPDATE;

-- name: lock_blobs_for_delete(study_key)
-- Lock the marked instances' file rows (current and original) in key order, so concurrent
-- deletes cannot deadlock.
SELECT blob_key FROM blobs
 WHERE blob_key IN (SELECT blob_key FROM instances WHERE study_key = :study_key AND status = 2
                    UNION
                    SELECT original_blob_key FROM instances
                     WHERE study_key = :study_key AND status = 2
                       AND original_blob_key IS NOT NULL)
 ORDER BY blob_key
   FOR UPDATE;

-- Export (reference-2.md §3.3): the visible (status 1) instances an export identifier names,
-- a page at a time in (series, SOP instance) UID order after the last one copied (keyset
-- pagination on ux_instances_uid), so a resumed export continues where it stopped.

-- name: count_export_study_instances(partition_key, study_instance_uid)^
-- How many visible instances a study has (for percentComplete).
SELECT COUNT(*) AS instance_count
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND status = 1;

-- name: count_export_series_instances(partition_key, study_instance_uid, series_instance_uid)^
-- How many visible instances a series has (for percentComplete).
SELECT COUNT(*) AS instance_count
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND status = 1;

-- name: list_export_study_instances(partition_key, study_instance_uid, after_series_instance_uid, after_sop_instance_uid, batch_size)
-- The next visible instances of a study after (series, SOP instance) UIDs.
SELECT series_instance_uid, sop_instance_uid, blob_key
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND (series_instance_uid, sop_instance_uid)
       > (:after_series_instance_uid, :after_sop_instance_uid)
   AND status = 1
 ORDER BY series_instance_uid, sop_instance_uid
 LIMIT :batch_size;

-- name: list_export_series_instances(partition_key, study_instance_uid, series_instance_uid, after_sop_instance_uid, batch_size)
-- The next visible instances of a series after a SOP instance UID.
SELECT series_instance_uid, sop_instance_uid, blob_key
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid
   AND sop_instance_uid > :after_sop_instance_uid
   AND status = 1
 ORDER BY sop_instance_uid
 LIMIT :batch_size;

-- name: get_export_instance(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- The visible instance with these UIDs, or None.
SELECT series_instance_uid, sop_instance_uid, blob_key
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND sop_instance_uid = :sop_instance_uid
   AND status = 1;

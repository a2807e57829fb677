-- WADO-RS: the visible (status 1) instances of a study, series or instance, and their stored
-- DICOM JSON. Mirrors the reference's Sprocs/GetInstanceWithProperties.sql and
-- GetInstancesByStudyAndSeries*.sql. Every query leads with the partition key (ux_instances_uid).

-- name: list_study_instances(partition_key, study_instance_uid)
-- The visible instances of a study, in store order.
SELECT study_instance_uid, series_instance_uid, sop_instance_uid, watermark, blob_key,
       blob_size, transfer_syntax_uid, number_of_frames, sop_class_uid
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND status = 1
 ORDER BY instance_key;

-- name: list_series_instances(partition_key, study_instance_uid, series_instance_uid)
-- The visible instances of a series, in store order.
SELECT study_instance_uid, series_instance_uid, sop_instance_uid, watermark, blob_key,
       blob_size, transfer_syntax_uid, number_of_frames, sop_class_uid
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND status = 1
 ORDER BY instance_key;

-- name: get_instance(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- The visible instance with these UIDs, or None.
SELECT study_instance_uid, series_instance_uid, sop_instance_uid, watermark, blob_key,
       blob_size, transfer_syntax_uid, number_of_frames, sop_class_uid
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND sop_instance_uid = :sop_instance_uid
   AND status = 1;

-- name: list_study_metadata(partition_key, study_instance_uid)
-- Watermark and stored DICOM JSON of each visible instance of a study, in store order.
SELECT i.series_instance_uid, i.sop_instance_uid, i.watermark, m.dataset
  FROM instances i
  JOIN instance_metadata m ON m.watermark = i.watermark
 WHERE i.partition_key = :partition_key AND i.study_instance_uid = :study_instance_uid
   AND i.status = 1
 ORDER BY i.instance_key;

-- name: list_series_metadata(partition_key, study_instance_uid, series_instance_uid)
-- Watermark and stored DICOM JSON of each visible instance of a series, in store order.
SELECT i.series_instance_uid, i.sop_instance_uid, i.watermark, m.dataset
  FROM instances i
  JOIN instance_metadata m ON m.watermark = i.watermark
 WHERE i.partition_key = :partition_key AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.status = 1
 ORDER BY i.instance_key;

-- name: list_instance_metadata(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)
-- Watermark and stored DICOM JSON of one visible instance (zero or one row).
SELECT i.series_instance_uid, i.sop_instance_uid, i.watermark, m.dataset
  FROM instances i
  JOIN instance_metadata m ON m.watermark = i.watermark
 WHERE i.partition_key = :partition_key AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.sop_instance_uid = :sop_instance_uid
   AND i.status = 1;

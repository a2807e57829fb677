-- WADO-RS: the visible (status 1) instances of a study, series or instance, and their stored
-- DICOM JSON. Mirrors the reference's Sprocs/GetInstanceWithProperties.sql and
-- GetInstancesByStudyAndSeries*.sql. Each query finds the partition by its name (any case,
-- ux_partitions_name, which covers the partitions not deleted) in the same statement, so a
-- read is one round trip, and returns the stored name and key with every row; then it leads
-- with the partition key (ux_instances_uid).
-- Bulk update: the instance queries return an updated instance's original file too; with
-- original = 1 the metadata queries return each instance's original DICOM JSON (the watermark
-- returned stays the current one, which ETags name).
-- Metadata of a study or series is read in batches: a first statement limited to one batch,
-- then, when there are more rows, the same statement unlimited, its rows fetched a batch at a
-- time as the response is sent (DbConn.stream).

-- name: list_study_instances(partition_name, study_instance_uid)
-- The visible instances of a study, in store order.
SELECT p.partition_key, p.partition_name, i.study_instance_uid, i.series_instance_uid,
       i.sop_instance_uid, i.watermark, i.blob_key, i.blob_size, i.transfer_syntax_uid,
       i.number_of_frames, i.sop_class_uid, i.original_blob_key, i.original_blob_size
  FROM partitions p
  JOIN instances i ON i.partition_key = p.partition_key
 WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
   AND i.study_instance_uid = :study_instance_uid
   AND i.status = 1
 ORDER BY i.instance_key;

-- name: list_series_instances(partition_name, study_instance_uid, series_instance_uid)
-- The visible instances of a series, in store order.
SELECT p.partition_key, p.partition_name, i.study_instance_uid, i.series_instance_uid,
       i.sop_instance_uid, i.watermark, i.blob_key, i.blob_size, i.transfer_syntax_uid,
       i.number_of_frames, i.sop_class_uid, i.original_blob_key, i.original_blob_size
  FROM partitions p
  JOIN instances i ON i.partition_key = p.partition_key
 WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
   AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.status = 1
 ORDER BY i.instance_key;

-- name: get_instance(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- The visible instance with these UIDs, or None (its UIDs, the parameters, are not returned).
SELECT p.partition_key, p.partition_name, i.watermark, i.blob_key, i.blob_size,
       i.transfer_syntax_uid, i.number_of_frames, i.sop_class_uid, i.original_blob_key,
       i.original_blob_size
  FROM partitions p
  JOIN instances i ON i.partition_key = p.partition_key
 WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
   AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.sop_instance_uid = :sop_instance_uid
   AND i.status = 1;

-- name: list_study_metadata(partition_name, study_instance_uid, original, max_rows)
-- The first max_rows visible instances of a study in store order, with their watermark and
-- stored DICOM JSON. Every row carries the count and the largest watermark of all of them
-- (window functions: evaluated before the LIMIT), so the ETag describes the statement's rows.
SELECT s.partition_key, s.partition_name, s.series_instance_uid, s.sop_instance_uid,
       s.watermark, s.max_watermark, s.instance_count, m.dataset
  FROM (SELECT p.partition_key, p.partition_name, i.instance_key, i.series_instance_uid,
               i.sop_instance_uid, i.watermark,
               CASE WHEN :original = 1 THEN i.original_watermark ELSE i.watermark END
                   AS dataset_watermark,
               max(i.watermark) OVER () AS max_watermark, count(*) OVER () AS instance_count
          FROM partitions p
          JOIN instances i ON i.partition_key = p.partition_key
         WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
           AND i.study_instance_uid = :study_instance_uid
           AND i.status = 1
         ORDER BY i.instance_key
         LIMIT :max_rows) s
  JOIN instance_metadata m ON m.watermark = s.dataset_watermark
 ORDER BY s.instance_key;

-- name: list_series_metadata(partition_name, study_instance_uid, series_instance_uid, original, max_rows)
-- The first max_rows visible instances of a series in store order, with their watermark and
-- stored DICOM JSON. Every row carries the count and the largest watermark of all of them
-- (window functions: evaluated before the LIMIT), so the ETag describes the statement's rows.
SELECT s.partition_key, s.partition_name, s.series_instance_uid, s.sop_instance_uid,
       s.watermark, s.max_watermark, s.instance_count, m.dataset
  FROM (SELECT p.partition_key, p.partition_name, i.instance_key, i.series_instance_uid,
               i.sop_instance_uid, i.watermark,
               CASE WHEN :original = 1 THEN i.original_watermark ELSE i.watermark END
                   AS dataset_watermark,
               max(i.watermark) OVER () AS max_watermark, count(*) OVER () AS instance_count
          FROM partitions p
          JOIN instances i ON i.partition_key = p.partition_key
         WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
           AND i.study_instance_uid = :study_instance_uid
           AND i.series_instance_uid = :series_instance_uid AND i.status = 1
         ORDER BY i.instance_key
         LIMIT :max_rows) s
  JOIN instance_metadata m ON m.watermark = s.dataset_watermark
 ORDER BY s.instance_key;

-- name: list_instance_metadata(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid, original)
-- Watermark and stored DICOM JSON of one visible instance (zero or one row).
SELECT p.partition_key, p.partition_name, i.series_instance_uid, i.sop_instance_uid,
       i.watermark, m.dataset
  FROM partitions p
  JOIN instances i ON i.partition_key = p.partition_key
  JOIN instance_metadata m
    ON m.watermark = CASE WHEN :original = 1 THEN i.original_watermark ELSE i.watermark END
 WHERE lower(p.partition_name) = lower(:partition_name) AND p.status <> 2
   AND i.study_instance_uid = :study_instance_uid
   AND i.series_instance_uid = :series_instance_uid AND i.sop_instance_uid = :sop_instance_uid
   AND i.status = 1;

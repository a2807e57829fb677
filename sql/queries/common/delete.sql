-- DELETE of a study, series or instance, set-based (reference.md §6; Sprocs/DeleteInstanceV6.sql).
-- The service first marks the instances to delete with status 2 ("deleting", never committed),
-- so every later statement addresses them by the (study_key, status) index, whatever the level.

-- name: get_series_key(partition_key, study_key, series_instance_uid)^
-- The series' key within a study, or None.
SELECT series_key FROM series
 WHERE partition_key = :partition_key AND study_key = :study_key
   AND series_instance_uid = :series_instance_uid;

-- name: mark_study_instances_deleting(partition_key, study_key)!
-- Mark every instance of the study (any status) as being deleted.
UPDATE instances SET status = 2
 WHERE partition_key = :partition_key AND study_key = :study_key;

-- name: mark_series_instances_deleting(partition_key, series_key)!
-- Mark every instance of the series (any status) as being deleted.
UPDATE instances SET status = 2
 WHERE partition_key = :partition_key AND series_key = :series_key;

-- name: mark_instance_deleting(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)!
-- Mark one instance (any status) as being deleted.
UPDATE instances SET status = 2
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND sop_instance_uid = :sop_instance_uid;

-- name: add_delete_change_feed_entries(timestamp, study_key)!
-- Append one Delete entry per marked instance, in watermark order.
INSERT INTO change_feed (timestamp, action, partition_key, study_instance_uid,
                         series_instance_uid, sop_instance_uid, original_watermark,
                         current_watermark)
SELECT :timestamp, 1, partition_key, study_instance_uid, series_instance_uid, sop_instance_uid,
       watermark, CAST(NULL AS BIGINT)
  FROM instances
 WHERE study_key = :study_key AND status = 2
 ORDER BY watermark;

-- name: mark_change_feed_deleted(study_key)!
-- Earlier entries of the marked instances (same partition and UIDs) now read "Deleted". Driven
-- from the marked instances through ix_change_feed_instance, so the cost follows the number of
-- deleted instances, not the size of the feed.
UPDATE change_feed SET current_watermark = NULL
 WHERE sequence IN (SELECT cf.sequence
                      FROM instances i
                      JOIN change_feed cf
                        ON cf.partition_key = i.partition_key
                       AND cf.study_instance_uid = i.study_instance_uid
                       AND cf.series_instance_uid = i.series_instance_uid
                       AND cf.sop_instance_uid = i.sop_instance_uid
                     WHERE i.study_key = :study_key AND i.status = 2
                       AND cf.current_watermark IS NOT NULL);

-- name: count_extended_query_tag_errors_released(study_key)
-- Errors of the marked instances per extended query tag.
SELECT e.tag_key, COUNT(*) AS error_count
  FROM extended_query_tag_errors e
  JOIN instances i ON i.watermark = e.watermark
 WHERE i.study_key = :study_key AND i.status = 2
 GROUP BY e.tag_key;

-- name: release_extended_query_tag_errors(tag_key, count)!
-- Count fewer errors for a tag (never below zero).
UPDATE extended_query_tags
   SET error_count = CASE WHEN error_count > :count THEN error_count - :count ELSE 0 END
 WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_errors(partition_key, study_key)!
-- Remove the extended query tag errors of the marked instances.
DELETE FROM extended_query_tag_errors
 WHERE partition_key = :partition_key
   AND watermark IN (SELECT watermark FROM instances WHERE study_key = :study_key AND status = 2);

-- name: delete_instance_metadata(study_key)!
-- Remove the stored DICOM JSON of the marked instances (every version).
DELETE FROM instance_metadata
 WHERE watermark IN (SELECT watermark FROM instances WHERE study_key = :study_key AND status = 2
                     UNION
                     SELECT original_watermark FROM instances
                      WHERE study_key = :study_key AND status = 2
                        AND original_watermark IS NOT NULL);

-- name: release_blob_references(study_key)!
-- Count fewer references to the files of the marked instances: one for the current file of
-- each, one more for the original file of an updated instance (bulk update, schema 0090).
UPDATE blobs SET ref_count = blobs.ref_count - released.n
  FROM (SELECT blob_key, COUNT(*) AS n
          FROM (SELECT blob_key FROM instances WHERE study_key = :study_key AND status = 2
                UNION ALL
                SELECT original_blob_key FROM instances
                 WHERE study_key = :study_key AND status = 2
                   AND original_blob_key IS NOT NULL) AS files
         GROUP BY blob_key) AS released
 WHERE blobs.blob_key = released.blob_key;

-- name: list_unreferenced_blobs(study_key)
-- The marked instances' files (current and original) nothing references any more. Their rows
-- stay (ref_count 0) until the service removes each file after the commit
-- (remove_released_blobs in maintenance.sql).
SELECT blob_key FROM blobs
 WHERE ref_count <= 0
   AND blob_key IN (SELECT blob_key FROM instances WHERE study_key = :study_key AND status = 2
                    UNION
                    SELECT original_blob_key FROM instances
                     WHERE study_key = :study_key AND status = 2
                       AND original_blob_key IS NOT NULL);

-- name: delete_marked_instances(study_key)!
-- Remove the marked instance rows.
DELETE FROM instances WHERE study_key = :study_key AND status = 2;

-- name: delete_empty_series(study_key)!
-- Remove the study's series that have no instance left.
DELETE FROM series
 WHERE study_key = :study_key
   AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_key = series.series_key);

-- name: delete_empty_study(study_key)^
-- Remove the study when it has no instance left; returns its key when removed.
DELETE FROM studies
 WHERE study_key = :study_key
   AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.study_key = :study_key)
RETURNING study_key;

-- name: delete_orphan_extended_query_tag_string(partition_key, study_key)!
-- Remove string values of the study whose instance, series or study no longer exists.
DELETE FROM extended_query_tag_string
 WHERE partition_key = :partition_key AND study_key = :study_key AND (
       (instance_key <> 0 AND NOT EXISTS (SELECT 1 FROM instances i
                                           WHERE i.instance_key = extended_query_tag_string.instance_key))
    OR (instance_key = 0 AND series_key <> 0
        AND NOT EXISTS (SELECT 1 FROM series s
                         WHERE s.series_key = extended_query_tag_string.series_key))
    OR (series_key = 0 AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.study_key = :study_key)));

-- name: delete_orphan_extended_query_tag_long(partition_key, study_key)!
-- Remove integer values of the study whose instance, series or study no longer exists.
DELETE FROM extended_query_tag_long
 WHERE partition_key = :partition_key AND study_key = :study_key AND (
       (instance_key <> 0 AND NOT EXISTS (SELECT 1 FROM instances i
                                           WHERE i.instance_key = extended_query_tag_long.instance_key))
    OR (instance_key = 0 AND series_key <> 0
        AND NOT EXISTS (SELECT 1 FROM series s
                         WHERE s.series_key = extended_query_tag_long.series_key))
    OR (series_key = 0 AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.study_key = :study_key)));

-- name: delete_orphan_extended_query_tag_double(partition_key, study_key)!
-- Remove floating-point values of the study whose instance, series or study no longer exists.
DELETE FROM extended_query_tag_double
 WHERE partition_key = :partition_key AND study_key = :study_key AND (
       (instance_key <> 0 AND NOT EXISTS (SELECT 1 FROM instances i
                                           WHERE i.instance_key = extended_query_tag_double.instance_key))
    OR (instance_key = 0 AND series_key <> 0
        AND NOT EXISTS (SELECT 1 FROM series s
                         WHERE s.series_key = extended_query_tag_double.series_key))
    OR (series_key = 0 AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.study_key = :study_key)));

-- name: delete_orphan_extended_query_tag_datetime(partition_key, study_key)!
-- Remove date/time values of the study whose instance, series or study no longer exists.
DELETE FROM extended_query_tag_datetime
 WHERE partition_key = :partition_key AND study_key = :study_key AND (
       (instance_key <> 0 AND NOT EXISTS (SELECT 1 FROM instances i
                                           WHERE i.instance_key = extended_query_tag_datetime.instance_key))
    OR (instance_key = 0 AND series_key <> 0
        AND NOT EXISTS (SELECT 1 FROM series s
                         WHERE s.series_key = extended_query_tag_datetime.series_key))
    OR (series_key = 0 AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.study_key = :study_key)));

-- name: delete_orphan_extended_query_tag_person_name(partition_key, study_key)!
-- Remove person-name values of the study whose instance, series or study no longer exists.
DELETE FROM extended_query_tag_person_name
 WHERE partition_key = :partition_key AND study_key = :study_key AND (
       (instance_key <> 0 AND NOT EXISTS (SELECT 1 FROM instances i
                                           WHERE i.instance_key = extended_query_tag_person_name.instance_key))
    OR (instance_key = 0 AND series_key <> 0
        AND NOT EXISTS (SELECT 1 FROM series s
                         WHERE s.series_key = extended_query_tag_person_name.series_key))
    OR (series_key = 0 AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.study_key = :study_key)));

-- name: list_remaining_instance_metadata(study_key, before_watermark, limit)
-- The visible instances of a study, newest first, with their DICOM JSON (to recompute the
-- study and series columns after a delete), a page below a watermark.
SELECT i.watermark, i.series_key, m.dataset
  FROM instances i
  JOIN instance_metadata m ON m.watermark = i.watermark
 WHERE i.study_key = :study_key AND i.status = 1 AND i.watermark < :before_watermark
 ORDER BY i.watermark DESC
 LIMIT :limit;

-- name: get_study_columns(study_key)^
-- The study's index columns.
SELECT * FROM studies WHERE study_key = :study_key;

-- name: get_series_columns(series_key)^
-- The series' index columns.
SELECT * FROM series WHERE series_key = :series_key;

-- name: update_study_columns(study_key, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_date, study_time, study_description, accession_number, patient_birth_date, study_id, patient_id_folded, patient_name_folded, referring_physician_name_folded, study_description_folded, accession_number_folded, study_id_folded)!
-- Replace the study's "latest wins" columns (recomputed from the remaining instances).
UPDATE studies
   SET patient_id = :patient_id, patient_name = :patient_name,
       patient_name_words = :patient_name_words,
       referring_physician_name = :referring_physician_name,
       referring_physician_name_words = :referring_physician_name_words,
       study_date = :study_date, study_time = :study_time,
       study_description = :study_description, accession_number = :accession_number,
       patient_birth_date = :patient_birth_date, study_id = :study_id,
       patient_id_folded = :patient_id_folded, patient_name_folded = :patient_name_folded,
       referring_physician_name_folded = :referring_physician_name_folded,
       study_description_folded = :study_description_folded,
       accession_number_folded = :accession_number_folded, study_id_folded = :study_id_folded
 WHERE study_key = :study_key;

-- name: update_series_columns(series_key, modality, performed_procedure_step_start_date, manufacturer_model_name, series_number, modality_folded, manufacturer_model_name_folded)!
-- Replace the series' "latest wins" columns (recomputed from the remaining instances).
UPDATE series
   SET modality = :modality,
       performed_procedure_step_start_date = :performed_procedure_step_start_date,
       manufacturer_model_name = :manufacturer_model_name, series_number = :series_number,
       modality_folded = :modality_folded,
       manufacturer_model_name_folded = :manufacturer_model_name_folded
 WHERE series_key = :series_key;

-- Bulk update (reference-2.md §2; Sprocs/BeginUpdateInstanceV*.sql, EndUpdateInstanceV*.sql).
-- One study per transaction: its instances get new watermarks, files and metadata together,
-- so readers see the study either as it was or updated. instances.original_blob_key and
-- original_watermark keep the first version (schema 0090).

-- name: list_instances_to_update(partition_key, study_instance_uid)
-- The visible instances of a study with their current version, in store order.
SELECT instance_key, study_key, series_key, series_instance_uid, sop_instance_uid, watermark,
       original_watermark, blob_key, blob_size, original_blob_key
  FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND status = 1
 ORDER BY instance_key;

-- name: get_version_metadata(watermark)^
-- The stored DICOM JSON of one instance version.
SELECT dataset FROM instance_metadata WHERE watermark = :watermark;

-- name: delete_version_metadata(watermark)!
-- Remove the DICOM JSON of an intermediate version (neither the original nor the newest).
DELETE FROM instance_metadata WHERE watermark = :watermark;

-- name: release_blob_reference(blob_key)^
-- Count one reference fewer to a file; returns the count left (0: the file is released and
-- is removed after the commit, as a DELETE's are).
UPDATE blobs SET ref_count = ref_count - 1 WHERE blob_key = :blob_key RETURNING ref_count;

-- name: update_instance_version(instance_key, old_watermark, watermark, blob_key, blob_size, now)!
-- Make the new version current. The first update keeps the file as the original's (the
-- right-hand sides read the row before the update); 0 rows if the instance changed meanwhile.
UPDATE instances
   SET watermark = :watermark, blob_key = :blob_key, blob_size = :blob_size,
       original_blob_key = COALESCE(original_blob_key, blob_key),
       original_blob_size = COALESCE(original_blob_size, blob_size),
       last_status_updated_date = :now
 WHERE instance_key = :instance_key AND watermark = :old_watermark AND status = 1;

-- name: move_extended_query_tag_errors(old_watermark, watermark)!
-- An instance's extended query tag errors follow it to its new version.
UPDATE extended_query_tag_errors SET watermark = :watermark WHERE watermark = :old_watermark;

-- name: update_study_for_bulk_update(study_key, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_description, accession_number, patient_birth_date, patient_id_folded, patient_name_folded, referring_physician_name_folded, study_description_folded, accession_number_folded)!
-- The study's columns a change sets, with their folded search twins (NULL: unchanged, as the
-- reference's ISNULL).
UPDATE studies
   SET patient_id = COALESCE(:patient_id, patient_id),
       patient_name = COALESCE(:patient_name, patient_name),
       patient_name_words = COALESCE(:patient_name_words, patient_name_words),
       referring_physician_name = COALESCE(:referring_physician_name, referring_physician_name),
       referring_physician_name_words = COALESCE(:referring_physician_name_words,
                                                 referring_physician_name_words),
       study_description = COALESCE(:study_description, study_description),
       accession_number = COALESCE(:accession_number, accession_number),
       patient_birth_date = COALESCE(:patient_birth_date, patient_birth_date),
       patient_id_folded = COALESCE(:patient_id_folded, patient_id_folded),
       patient_name_folded = COALESCE(:patient_name_folded, patient_name_folded),
       referring_physician_name_folded = COALESCE(:referring_physician_name_folded,
                                                  referring_physician_name_folded),
       study_description_folded = COALESCE(:study_description_folded, study_description_folded),
       accession_number_folded = COALESCE(:accession_number_folded, accession_number_folded)
 WHERE study_key = :study_key;

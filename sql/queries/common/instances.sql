-- Studies, series and instances: the store path. Mirrors the reference's Sprocs/AddInstanceV6.sql
-- (latest-wins study/series columns) and GetInstance*.sql.

-- name: add_study(partition_key, study_instance_uid, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_date, study_time, study_description, accession_number, patient_birth_date, study_id, patient_id_folded, patient_name_folded, referring_physician_name_folded, study_description_folded, accession_number_folded, study_id_folded, created_date)^
-- Insert a study, or update its columns "latest wins" (non-null values overwrite; PatientID
-- only when non-empty); returns the study key.
INSERT INTO studies (partition_key, study_instance_uid, patient_id, patient_name,
                     patient_name_words, referring_physician_name,
                     referring_physician_name_words, study_date, study_time, study_description,
                     accession_number, patient_birth_date, study_id, patient_id_folded,
                     patient_name_folded, referring_physician_name_folded,
                     study_description_folded, accession_number_folded, study_id_folded,
                     created_date)
VALUES (:partition_key, :study_instance_uid, :patient_id, :patient_name, :patient_name_words,
        :referring_physician_name, :referring_physician_name_words, :study_date, :study_time,
        :study_description, :accession_number, :patient_birth_date, :study_id,
        :patient_id_folded, :patient_name_folded, :referring_physician_name_folded,
        :study_description_folded, :accession_number_folded, :study_id_folded, :created_date)
ON CONFLICT (partition_key, study_instance_uid) DO UPDATE SET
    patient_id = CASE WHEN excluded.patient_id <> '' THEN excluded.patient_id
                      ELSE studies.patient_id END,
    patient_name = COALESCE(excluded.patient_name, studies.patient_name),
    patient_name_words = COALESCE(excluded.patient_name_words, studies.patient_name_words),
    referring_physician_name = COALESCE(excluded.referring_physician_name,
                                        studies.referring_physician_name),
    referring_physician_name_words = COALESCE(excluded.referring_physician_name_words,
                                              studies.referring_physician_name_words),
    study_date = COALESCE(excluded.study_date, studies.study_date),
    study_time = COALESCE(excluded.study_time, studies.study_time),
    study_description = COALESCE(excluded.study_description, studies.study_description),
    accession_number = COALESCE(excluded.accession_number, studies.accession_number),
    patient_birth_date = COALESCE(excluded.patient_birth_date, studies.patient_birth_date),
    study_id = COALESCE(excluded.study_id, studies.study_id),
    patient_id_folded = CASE WHEN excluded.patient_id <> '' THEN excluded.patient_id_folded
                             ELSE studies.patient_id_folded END,
    patient_name_folded = COALESCE(excluded.patient_name_folded, studies.patient_name_folded),
    referring_physician_name_folded = COALESCE(excluded.referring_physician_name_folded, studies.referring_physician_name_folded),
    study_description_folded = COALESCE(excluded.study_description_folded, studies.study_description_folded),
    accession_number_folded = COALESCE(excluded.accession_number_folded, studies.accession_number_folded),
    study_id_folded = COALESCE(excluded.study_id_folded, studies.study_id_folded)
RETURNING study_key;

-- name: add_series(study_key, partition_key, series_instance_uid, modality, performed_procedure_step_start_date, manufacturer_model_name, series_number, modality_folded, manufacturer_model_name_folded, created_date)^
-- Insert a series, or update its columns "latest wins"; returns the series key.
INSERT INTO series (study_key, partition_key, series_instance_uid, modality,
                    performed_procedure_step_start_date, manufacturer_model_name, series_number,
                    modality_folded, manufacturer_model_name_folded, created_date)
VALUES (:study_key, :partition_key, :series_instance_uid, :modality,
        :performed_procedure_step_start_date, :manufacturer_model_name, :series_number,
        :modality_folded, :manufacturer_model_name_folded, :created_date)
ON CONFLICT (partition_key, study_key, series_instance_uid) DO UPDATE SET
    modality = COALESCE(excluded.modality, series.modality),
    performed_procedure_step_start_date = COALESCE(excluded.performed_procedure_step_start_date,
                                                   series.performed_procedure_step_start_date),
    manufacturer_model_name = COALESCE(excluded.manufacturer_model_name,
                                       series.manufacturer_model_name),
    series_number = COALESCE(excluded.series_number, series.series_number),
    modality_folded = COALESCE(excluded.modality_folded, series.modality_folded),
    manufacturer_model_name_folded = COALESCE(excluded.manufacturer_model_name_folded, series.manufacturer_model_name_folded)
RETURNING series_key;

-- name: get_instance_status(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- The status of an instance with these UIDs in the partition, or None.
SELECT status FROM instances
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND sop_instance_uid = :sop_instance_uid;

-- name: add_instance(partition_key, study_key, series_key, study_instance_uid, series_instance_uid, sop_instance_uid, sop_class_uid, instance_number, watermark, status, transfer_syntax_uid, number_of_frames, blob_key, blob_size, created_date)^
-- Insert an instance row (the unique key rejects a duplicate in the same partition); returns
-- its key.
INSERT INTO instances (partition_key, study_key, series_key, study_instance_uid,
                       series_instance_uid, sop_instance_uid, sop_class_uid, instance_number,
                       watermark, original_watermark, status, transfer_syntax_uid,
                       number_of_frames, blob_key, blob_size, created_date,
                       last_status_updated_date)
VALUES (:partition_key, :study_key, :series_key, :study_instance_uid, :series_instance_uid,
        :sop_instance_uid, :sop_class_uid, :instance_number, :watermark, :watermark, :status,
        :transfer_syntax_uid, :number_of_frames, :blob_key, :blob_size, :created_date,
        :created_date)
RETURNING instance_key;

-- name: add_instance_metadata(watermark, partition_key, dataset)!
-- Store the DICOM JSON of an instance version.
INSERT INTO instance_metadata (watermark, partition_key, dataset)
VALUES (:watermark, :partition_key, :dataset);

-- name: add_blob_reference(blob_key, size, created_date)!
-- Count one more reference to a content-addressed file (locks the row until commit).
INSERT INTO blobs (blob_key, size, ref_count, created_date)
VALUES (:blob_key, :size, 1, :created_date)
ON CONFLICT (blob_key) DO UPDATE SET ref_count = blobs.ref_count + 1;

-- name: add_change_feed_entry(timestamp, action, partition_key, study_instance_uid, series_instance_uid, sop_instance_uid, original_watermark, current_watermark)!
-- Append a change-feed entry.
INSERT INTO change_feed (timestamp, action, partition_key, study_instance_uid,
                         series_instance_uid, sop_instance_uid, original_watermark,
                         current_watermark)
VALUES (:timestamp, :action, :partition_key, :study_instance_uid, :series_instance_uid,
        :sop_instance_uid, :original_watermark, :current_watermark);

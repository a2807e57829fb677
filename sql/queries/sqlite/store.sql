-- SQLite has no data-modifying CTEs, so dao.instances.add_instance runs the step-by-step
-- queries of ../common/instances.sql there (an embedded database has no round trips to save).
-- This stub keeps the dialect files in step (tests/unit/test_sql_files.py); it is never called.

-- name: add_instance_rows(partition_key, study_instance_uid, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_date, study_time, study_description, accession_number, patient_birth_date, study_id, series_instance_uid, modality, performed_procedure_step_start_date, manufacturer_model_name, series_number, sop_instance_uid, sop_class_uid, instance_number, status, transfer_syntax_uid, number_of_frames, blob_key, blob_size, dataset, action, created_date)^
-- Not available on SQLite: returns no row.
-- (aiosql requires every declared parameter to be used.)
SELECT NULL AS instance_key
 WHERE 0 = 1 AND COALESCE(
                  :partition_key, :study_instance_uid, :patient_id, :patient_name,
                  :patient_name_words, :referring_physician_name,
                  :referring_physician_name_words, :study_date, :study_time,
                  :study_description, :accession_number, :patient_birth_date, :study_id,
                  :series_instance_uid, :modality, :performed_procedure_step_start_date,
                  :manufacturer_model_name, :series_number, :sop_instance_uid,
                  :sop_class_uid, :instance_number, :status, :transfer_syntax_uid,
                  :number_of_frames, :blob_key, :blob_size, :dataset, :action,
                  :created_date) IS NULL;

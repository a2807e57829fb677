-- name: get_instance_status_locking_tags(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- get_instance_status; SQLite serialises write transactions, so there is no lock to take
-- (lock_extended_query_tags_shared in operations.sql).
SELECT 1 AS locked,
       (SELECT status FROM instances
         WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
           AND series_instance_uid = :series_instance_uid
           AND sop_instance_uid = :sop_instance_uid) AS status;

-- name: lock_study_for_store(study_lock_key)
-- SQLite serializes write transactions: there is nothing to lock.
SELECT :study_lock_key AS locked;

-- SQLite has no data-modifying CTEs, so dao.instances.add_instance runs the step-by-step
-- queries of ../common/instances.sql there (an embedded database has no round trips to save).
-- This stub keeps the dialect files in step (tests/unit/test_sql_files.py); it is never called.

-- name: add_instance_rows(partition_key, study_instance_uid, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_date, study_time, study_description, accession_number, patient_birth_date, study_id, series_instance_uid, modality, performed_procedure_step_start_date, manufacturer_model_name, series_number, sop_instance_uid, sop_class_uid, instance_number, status, transfer_syntax_uid, number_of_frames, blob_key, blob_size, dataset, action, created_date, name_kinds, name_words)^
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
                  :created_date, :name_kinds, :name_words) IS NULL;

-- UPS-RS workitems (reference-2.md §1). Mirrors the reference's Sprocs/AddWorkitem.sql,
-- GetWorkitemMetadata.sql, UpdateWorkitemProcedureStepState.sql and UpdateWorkitemTransaction.sql;
-- the dataset lives in the row (no blob), so a state change is one UPDATE. The search is built in
-- app/dao/workitems.py (dynamic filters).

-- name: get_workitem(partition_key, workitem_uid)^
-- The workitem with this UID in the partition, or None.
SELECT workitem_key, workitem_uid, transaction_uid, procedure_step_state, dataset
  FROM workitems
 WHERE partition_key = :partition_key AND workitem_uid = :workitem_uid;

-- name: add_workitem(partition_key, workitem_uid, procedure_step_state, patient_name, patient_name_words, patient_id, scheduled_start_datetime, study_instance_uid, dataset, summary, now)^
-- Insert a workitem; returns its key. A duplicate UID in the partition violates ux_workitems_uid.
INSERT INTO workitems (partition_key, workitem_uid, transaction_uid, procedure_step_state,
                       patient_name, patient_name_words, patient_id, scheduled_start_datetime,
                       study_instance_uid, dataset, summary, created_date, updated_date)
VALUES (:partition_key, :workitem_uid, NULL, :procedure_step_state, :patient_name,
        :patient_name_words, :patient_id, :scheduled_start_datetime, :study_instance_uid,
        :dataset, :summary, :now, :now)
RETURNING workitem_key;

-- name: update_workitem(workitem_key, transaction_uid, procedure_step_state, patient_name, patient_name_words, patient_id, scheduled_start_datetime, study_instance_uid, dataset, summary, now)!
-- Replace a workitem's dataset, owner, state and searchable values (the row is locked).
UPDATE workitems
   SET transaction_uid = :transaction_uid, procedure_step_state = :procedure_step_state,
       patient_name = :patient_name, patient_name_words = :patient_name_words,
       patient_id = :patient_id, scheduled_start_datetime = :scheduled_start_datetime,
       study_instance_uid = :study_instance_uid, dataset = :dataset, summary = :summary,
       updated_date = :now
 WHERE workitem_key = :workitem_key;

-- name: add_workitem_sequence_value(partition_key, workitem_key, tag_path, tag_value)!
-- Index one value of a searchable sequence attribute (any item).
INSERT INTO workitem_sequence_values (partition_key, workitem_key, tag_path, tag_value)
VALUES (:partition_key, :workitem_key, :tag_path, :tag_value)
ON CONFLICT DO NOTHING;

-- name: delete_workitem_sequence_values(workitem_key)!
-- Forget a workitem's sequence values before they are written again.
DELETE FROM workitem_sequence_values WHERE workitem_key = :workitem_key;

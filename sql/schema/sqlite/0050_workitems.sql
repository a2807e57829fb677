-- UPS-RS workitems (issue #18; reference-2 §1.10). One row per workitem and partition: the
-- dataset (DICOM JSON, TransactionUID included) and the searchable values, folded for matching
-- (PN: lower case without accents; other strings: lower case). Values of the searchable
-- sequence attributes (any item) and the words of PatientName (tag path 00100010, for fuzzy
-- matching) live in workitem_sequence_values. Every index leads with the
-- partition key (decisions §2).

CREATE TABLE workitems (
    workitem_key INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key BIGINT NOT NULL REFERENCES partitions (partition_key),
    workitem_uid VARCHAR(64) NOT NULL,
    transaction_uid VARCHAR(64),
    procedure_step_state VARCHAR(16) NOT NULL,
    patient_name VARCHAR(400),
    patient_name_words VARCHAR(400),
    patient_id VARCHAR(64),
    scheduled_start_datetime VARCHAR(26),
    study_instance_uid VARCHAR(64),
    dataset TEXT NOT NULL,
    created_date TEXT NOT NULL,
    updated_date TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_workitems_uid ON workitems (partition_key, workitem_uid);
-- Newest-first pages of one partition, alone or with a state filter (the worklist).
CREATE INDEX ix_workitems_partition_key ON workitems (partition_key, workitem_key);
CREATE INDEX ix_workitems_state ON workitems (partition_key, procedure_step_state, workitem_key);
-- Equality and prefix wildcards (GLOB 'abc*' can use them).
CREATE INDEX ix_workitems_patient_id ON workitems (partition_key, patient_id);
CREATE INDEX ix_workitems_patient_name ON workitems (partition_key, patient_name);
CREATE INDEX ix_workitems_start ON workitems (partition_key, scheduled_start_datetime);
CREATE INDEX ix_workitems_study ON workitems (partition_key, study_instance_uid);

CREATE TABLE workitem_sequence_values (
    partition_key BIGINT NOT NULL,
    workitem_key BIGINT NOT NULL REFERENCES workitems (workitem_key) ON DELETE CASCADE,
    tag_path VARCHAR(17) NOT NULL,
    tag_value VARCHAR(64) NOT NULL,
    PRIMARY KEY (workitem_key, tag_path, tag_value)
);
CREATE INDEX ix_workitem_sequence_values
    ON workitem_sequence_values (partition_key, tag_path, tag_value, workitem_key);

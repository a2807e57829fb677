-- Indexes and unique keys. The partition key leads every one of them (decisions §2, §6),
-- so lookups of one partition never scan another's rows.

-- Partition names compare case-insensitively (names are ASCII by rule, so lower() suffices).
CREATE UNIQUE INDEX ux_partitions_name ON partitions (lower(partition_name));

CREATE UNIQUE INDEX ux_studies_uid ON studies (partition_key, study_instance_uid);
CREATE INDEX ix_studies_patient_id ON studies (partition_key, patient_id);
CREATE INDEX ix_studies_patient_name ON studies (partition_key, patient_name);
CREATE INDEX ix_studies_study_date ON studies (partition_key, study_date);
CREATE INDEX ix_studies_accession_number ON studies (partition_key, accession_number);

CREATE UNIQUE INDEX ux_series_uid ON series (partition_key, study_key, series_instance_uid);
CREATE INDEX ix_series_series_uid ON series (partition_key, series_instance_uid);
CREATE INDEX ix_series_modality ON series (partition_key, modality);
CREATE INDEX ix_series_study ON series (study_key);

CREATE UNIQUE INDEX ux_instances_uid
    ON instances (partition_key, study_instance_uid, series_instance_uid, sop_instance_uid);
CREATE UNIQUE INDEX ux_instances_watermark ON instances (watermark);
CREATE INDEX ix_instances_sop_uid ON instances (partition_key, sop_instance_uid);
CREATE INDEX ix_instances_series ON instances (series_key, status);
CREATE INDEX ix_instances_study ON instances (study_key, status);
CREATE INDEX ix_instances_blob ON instances (blob_key);

CREATE INDEX ix_change_feed_timestamp ON change_feed (timestamp, sequence);
CREATE INDEX ix_change_feed_partition ON change_feed (partition_key, sequence);
CREATE INDEX ix_change_feed_instance
    ON change_feed (partition_key, study_instance_uid, series_instance_uid, sop_instance_uid);

CREATE UNIQUE INDEX ux_extended_query_tags_path ON extended_query_tags (tag_path);
CREATE INDEX ix_eqt_string_value ON extended_query_tag_string (tag_key, partition_key, tag_value);
CREATE INDEX ix_eqt_long_value ON extended_query_tag_long (tag_key, partition_key, tag_value);
CREATE INDEX ix_eqt_double_value ON extended_query_tag_double (tag_key, partition_key, tag_value);
CREATE INDEX ix_eqt_datetime_value
    ON extended_query_tag_datetime (tag_key, partition_key, tag_value);
CREATE INDEX ix_eqt_person_name_value
    ON extended_query_tag_person_name (tag_key, partition_key, tag_value);

CREATE INDEX ix_operations_status ON operations (status, created_time);

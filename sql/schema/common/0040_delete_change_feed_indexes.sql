-- Indexes for DELETE and the partition-scoped change feed (issue #6).
-- A delete removes the extended query tag values of one study set-based, by (partition, study);
-- errors are found by the deleted instances' watermarks; the partition change feed (v2) pages
-- by time within one partition.

CREATE INDEX ix_change_feed_partition_time ON change_feed (partition_key, timestamp, sequence);
CREATE INDEX ix_eqt_string_study ON extended_query_tag_string (partition_key, study_key);
CREATE INDEX ix_eqt_long_study ON extended_query_tag_long (partition_key, study_key);
CREATE INDEX ix_eqt_double_study ON extended_query_tag_double (partition_key, study_key);
CREATE INDEX ix_eqt_datetime_study ON extended_query_tag_datetime (partition_key, study_key);
CREATE INDEX ix_eqt_person_name_study
    ON extended_query_tag_person_name (partition_key, study_key);
CREATE INDEX ix_eqt_errors_watermark ON extended_query_tag_errors (watermark);
-- Recomputing a study's columns after a delete reads its remaining instances newest first.
CREATE INDEX ix_instances_study_watermark ON instances (study_key, status, watermark);

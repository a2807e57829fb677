-- Reset every table of a test database to the freshly-migrated state (PostgreSQL).
TRUNCATE partitions, studies, series, instances, instance_metadata, blobs, change_feed,
    extended_query_tags, extended_query_tag_string, extended_query_tag_long,
    extended_query_tag_double, extended_query_tag_datetime, extended_query_tag_person_name,
    extended_query_tag_errors, operations, study_name_words, workitems,
    workitem_sequence_values, store_identity, partition_statistics RESTART IDENTITY CASCADE;
ALTER SEQUENCE watermark_sequence RESTART WITH 1;
INSERT INTO partitions (partition_key, partition_name, created_date)
VALUES (1, 'Microsoft.Default', now());
ALTER TABLE partitions ALTER COLUMN partition_key RESTART WITH 2;
UPDATE blob_sweep_schedule SET last_started = NULL;

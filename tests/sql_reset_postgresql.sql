-- Reset every table a test may write to the freshly-migrated state (PostgreSQL), before each
-- test: the default partition alone, every other table of the list empty, every sequence at
-- its start (the partitions' identity at 2). DELETE of the tables that have rows, children
-- first, rather than TRUNCATE: TRUNCATE rebuilds every index of every table it empties and
-- syncs each to disk (0.2-0.5 s a test here). A clean database is not written at all.
-- tests/dao/test_reset.py compares the result with what TRUNCATE ... RESTART IDENTITY gives.
DO $$
DECLARE
    -- A table in this list before every table it references.
    tables CONSTANT text[] := ARRAY[
        'workitem_sequence_values', 'workitems', 'extended_query_tag_string',
        'extended_query_tag_long', 'extended_query_tag_double', 'extended_query_tag_datetime',
        'extended_query_tag_person_name', 'extended_query_tag_errors', 'extended_query_tags',
        'instance_metadata', 'instances', 'series', 'study_name_words', 'studies',
        'change_feed', 'blobs', 'operations', 'store_identity'];
    name text;
    has_rows boolean;
    default_row CONSTANT jsonb := '{"partition_key": 1, "partition_name": "Microsoft.Default",
        "max_instances": null, "max_bytes": null, "status": 0}';
    seq record;
BEGIN
    FOREACH name IN ARRAY tables LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %I)', name) INTO has_rows;
        IF has_rows THEN
            EXECUTE format('DELETE FROM %I', name);
        END IF;
    END LOOP;
    DELETE FROM partitions AS p WHERE to_jsonb(p) - 'created_date' <> default_row;
    INSERT INTO partitions (partition_key, partition_name, created_date)
    VALUES (1, 'Microsoft.Default', now()) ON CONFLICT DO NOTHING;
    -- Last: deleting studies, series and instances above updates it (triggers).
    IF EXISTS (SELECT FROM partition_statistics) THEN
        DELETE FROM partition_statistics;
    END IF;
    FOR seq IN SELECT schemaname, sequencename, start_value FROM pg_sequences
               WHERE schemaname = current_schema() AND last_value IS NOT NULL LOOP
        PERFORM setval(format('%I.%I', seq.schemaname, seq.sequencename)::regclass,
                       CASE seq.sequencename WHEN 'partitions_partition_key_seq' THEN 2
                                             ELSE seq.start_value END, false);
    END LOOP;
    UPDATE blob_sweep_schedule SET last_started = NULL WHERE last_started IS NOT NULL;
END
$$;

-- The store path in one round trip (decisions "Store (#3)": fewer round trips per instance).
-- The store queries run as prepared statements (app/db/engines/postgresql.py, prepared_queries):
-- every parameter whose type the context does not fix is cast, so PREPARE can infer all of them.
-- Same rows as dao.instances.add_instance's step-by-step queries in ../common/instances.sql:
-- study and series upserted "latest wins", then the instance, its metadata, the blob reference
-- and the change-feed entry. A duplicate instance violates ux_instances_uid and fails the
-- whole statement. A study or series row found unchanged is not upserted, only key-share
-- locked (as its foreign key check would), so a delete holding the study is waited for before
-- any row is written; should the row still vanish before the foreign keys are checked, the
-- statement fails with foreign_key_violation and the store is retried
-- (dao.instances.StudyRemovedError). add_instance_rows is PostgreSQL's only: it needs
-- data-modifying CTEs (Engine.data_modifying_ctes).

-- name: get_instance_statuses(partition_key, sop_instance_uids)
-- The UIDs and status of the partition's instances with these SOP instance UIDs (an array:
-- Engine.list_parameter); a multipart STOW checks its parts with it in one query.
SELECT study_instance_uid, series_instance_uid, sop_instance_uid, status FROM instances
 WHERE partition_key = :partition_key AND sop_instance_uid = ANY(:sop_instance_uids);

-- name: get_instance_status_locking_tags(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- The first statement of a store transaction, in one round trip: the status of an instance
-- with these UIDs (or None); the shared lock on the extended query tag definitions
-- (lock_extended_query_tags_shared in operations.sql: the next statement's snapshot is taken
-- after the lock is held, so it sees every tag added before it); and the partition's check of
-- lock_partition_for_store below, with its key-share lock (partition_status None: the
-- partition is gone).
WITH store_partition AS (
    SELECT status, max_instances, max_bytes FROM partitions
     WHERE partition_key = :partition_key
       FOR KEY SHARE
)
SELECT pg_advisory_xact_lock_shared(746572007) AS locked,
       (SELECT status FROM instances
         WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
           AND series_instance_uid = :series_instance_uid
           AND sop_instance_uid = :sop_instance_uid) AS status,
       p.status AS partition_status, p.max_instances, p.max_bytes
  FROM (SELECT 1) AS one LEFT JOIN store_partition AS p ON true;

-- name: get_instance_status_by_partition_name(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)^
-- get_instance_status_locking_tags for a STOW into a partition given by name that the request
-- has not looked up (app/partitioning.py, stored_by_partition_name): the partition found as
-- get_partition finds it, in the same round trip, with its key-share lock (partition_key None:
-- no such partition; the store creates it with its first instance).
WITH store_partition AS (
    SELECT partition_key, partition_name, created_date, status, max_instances, max_bytes
      FROM partitions
     WHERE lower(partition_name) = lower(:partition_name) AND status <> 2
       FOR KEY SHARE
)
SELECT pg_advisory_xact_lock_shared(746572007) AS locked,
       (SELECT status FROM instances
         WHERE partition_key = p.partition_key AND study_instance_uid = :study_instance_uid
           AND series_instance_uid = :series_instance_uid
           AND sop_instance_uid = :sop_instance_uid) AS status,
       p.partition_key, p.partition_name, p.created_date, p.status AS partition_status,
       p.max_instances, p.max_bytes
  FROM (SELECT 1) AS one LEFT JOIN store_partition AS p ON true;

-- name: lock_study_for_store(study_lock_key)
-- Lock one study of a multipart batch until commit (a transaction-level advisory lock in the
-- key space 7461 of study locks; the two-key form never overlaps one-key locks). The batch
-- takes its studies' locks in one global order before writing any row, so two requests into
-- overlapping studies wait for each other instead of deadlocking on the study and series rows.
SELECT pg_advisory_xact_lock(7461, hashtext(:study_lock_key)) AS locked;

-- name: add_instance_rows(partition_key, study_instance_uid, patient_id, patient_name, patient_name_words, referring_physician_name, referring_physician_name_words, study_date, study_time, study_description, accession_number, patient_birth_date, study_id, patient_id_folded, patient_name_folded, referring_physician_name_folded, study_description_folded, accession_number_folded, study_id_folded, series_instance_uid, modality, performed_procedure_step_start_date, manufacturer_model_name, series_number, modality_folded, manufacturer_model_name_folded, sop_instance_uid, sop_class_uid, instance_number, status, transfer_syntax_uid, number_of_frames, blob_key, blob_size, dataset, action, created_date, name_kinds, name_words)^
-- Insert or update every index row of a newly stored instance, and the words of the study's
-- person names (add_study_name_word in ../common/query.sql); returns its keys and the
-- signature of the extended query tags new instances must index (tag_signature: which tags,
-- in which status), so the caller can tell whether its cached list of them is current.
WITH found_study AS (
    -- The study row when storing changes none of its values (the usual case: every instance
    -- of a study carries the same study attributes). It is then left alone: no new row
    -- version, and no row lock that concurrent stores into the study would queue behind until
    -- this transaction commits. Each condition is "the update below would keep this value".
    SELECT study_key FROM studies
     WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
       AND patient_id = CASE WHEN :patient_id <> '' THEN :patient_id ELSE patient_id END
       AND patient_name IS NOT DISTINCT FROM COALESCE(:patient_name, patient_name)
       AND patient_name_words IS NOT DISTINCT FROM COALESCE(:patient_name_words,
                                                            patient_name_words)
       AND referring_physician_name IS NOT DISTINCT FROM
               COALESCE(:referring_physician_name, referring_physician_name)
       AND referring_physician_name_words IS NOT DISTINCT FROM
               COALESCE(:referring_physician_name_words, referring_physician_name_words)
       AND study_date IS NOT DISTINCT FROM COALESCE(:study_date, study_date)
       AND study_time IS NOT DISTINCT FROM COALESCE(:study_time, study_time)
       AND study_description IS NOT DISTINCT FROM COALESCE(:study_description,
                                                           study_description)
       AND accession_number IS NOT DISTINCT FROM COALESCE(:accession_number, accession_number)
       AND patient_birth_date IS NOT DISTINCT FROM COALESCE(:patient_birth_date,
                                                            patient_birth_date)
       AND study_id IS NOT DISTINCT FROM COALESCE(:study_id, study_id)
       AND patient_id_folded IS NOT DISTINCT FROM
               CASE WHEN :patient_id <> '' THEN :patient_id_folded ELSE patient_id_folded END
       AND patient_name_folded IS NOT DISTINCT FROM COALESCE(:patient_name_folded, patient_name_folded)
       AND referring_physician_name_folded IS NOT DISTINCT FROM COALESCE(:referring_physician_name_folded, referring_physician_name_folded)
       AND study_description_folded IS NOT DISTINCT FROM COALESCE(:study_description_folded, study_description_folded)
       AND accession_number_folded IS NOT DISTINCT FROM COALESCE(:accession_number_folded, accession_number_folded)
       AND study_id_folded IS NOT DISTINCT FROM COALESCE(:study_id_folded, study_id_folded)
       -- The lock the instance row's foreign key takes anyway: stores do not wait for each
       -- other, but one waits for a delete that holds the study (lock_study_for_delete) and
       -- then sees the row as the delete left it (recomputed, or gone: then upserted).
       FOR KEY SHARE
), upserted_study AS (
    INSERT INTO studies (partition_key, study_instance_uid, patient_id, patient_name,
                         patient_name_words, referring_physician_name,
                         referring_physician_name_words, study_date, study_time,
                         study_description, accession_number, patient_birth_date, study_id,
                         patient_id_folded, patient_name_folded,
                         referring_physician_name_folded, study_description_folded,
                         accession_number_folded, study_id_folded, created_date)
    SELECT CAST(:partition_key AS bigint), CAST(:study_instance_uid AS varchar),
           CAST(:patient_id AS varchar), CAST(:patient_name AS varchar),
           CAST(:patient_name_words AS varchar), CAST(:referring_physician_name AS varchar),
           CAST(:referring_physician_name_words AS varchar), CAST(:study_date AS varchar),
           CAST(:study_time AS varchar), CAST(:study_description AS varchar),
           CAST(:accession_number AS varchar), CAST(:patient_birth_date AS varchar),
           CAST(:study_id AS varchar), CAST(:patient_id_folded AS varchar),
           CAST(:patient_name_folded AS varchar),
           CAST(:referring_physician_name_folded AS varchar),
           CAST(:study_description_folded AS varchar), CAST(:accession_number_folded AS varchar),
           CAST(:study_id_folded AS varchar), CAST(:created_date AS timestamptz)
     WHERE NOT EXISTS (SELECT 1 FROM found_study)
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
    RETURNING study_key
), study AS (
    SELECT study_key FROM found_study UNION ALL SELECT study_key FROM upserted_study
), found_series AS (
    -- The same for the series row.
    SELECT series.study_key, series.series_key FROM series, study
     WHERE series.partition_key = :partition_key AND series.study_key = study.study_key
       AND series.series_instance_uid = :series_instance_uid
       AND modality IS NOT DISTINCT FROM COALESCE(:modality, modality)
       AND performed_procedure_step_start_date IS NOT DISTINCT FROM
               COALESCE(:performed_procedure_step_start_date,
                        performed_procedure_step_start_date)
       AND manufacturer_model_name IS NOT DISTINCT FROM COALESCE(:manufacturer_model_name,
                                                                 manufacturer_model_name)
       AND series_number IS NOT DISTINCT FROM COALESCE(:series_number, series_number)
       AND modality_folded IS NOT DISTINCT FROM COALESCE(:modality_folded, modality_folded)
       AND manufacturer_model_name_folded IS NOT DISTINCT FROM COALESCE(:manufacturer_model_name_folded, manufacturer_model_name_folded)
       FOR KEY SHARE OF series
), upserted_series AS (
    INSERT INTO series (study_key, partition_key, series_instance_uid, modality,
                        performed_procedure_step_start_date, manufacturer_model_name,
                        series_number, modality_folded, manufacturer_model_name_folded,
                        created_date)
    SELECT study.study_key, CAST(:partition_key AS bigint),
           CAST(:series_instance_uid AS varchar), CAST(:modality AS varchar),
           CAST(:performed_procedure_step_start_date AS varchar),
           CAST(:manufacturer_model_name AS varchar), CAST(:series_number AS bigint),
           CAST(:modality_folded AS varchar), CAST(:manufacturer_model_name_folded AS varchar),
           CAST(:created_date AS timestamptz)
      FROM study
     WHERE NOT EXISTS (SELECT 1 FROM found_series)
    ON CONFLICT (partition_key, study_key, series_instance_uid) DO UPDATE SET
        modality = COALESCE(excluded.modality, series.modality),
        performed_procedure_step_start_date = COALESCE(
            excluded.performed_procedure_step_start_date,
            series.performed_procedure_step_start_date),
        manufacturer_model_name = COALESCE(excluded.manufacturer_model_name,
                                           series.manufacturer_model_name),
        series_number = COALESCE(excluded.series_number, series.series_number),
        modality_folded = COALESCE(excluded.modality_folded, series.modality_folded),
        manufacturer_model_name_folded = COALESCE(excluded.manufacturer_model_name_folded, series.manufacturer_model_name_folded)
    RETURNING study_key, series_key
), series_row AS (
    SELECT study_key, series_key FROM found_series
    UNION ALL SELECT study_key, series_key FROM upserted_series
), instance AS (
    INSERT INTO instances (partition_key, study_key, series_key, study_instance_uid,
                           series_instance_uid, sop_instance_uid, sop_class_uid, instance_number,
                           watermark, original_watermark, status, transfer_syntax_uid,
                           number_of_frames, blob_key, blob_size, created_date,
                           last_status_updated_date)
    SELECT CAST(:partition_key AS bigint), s.study_key, s.series_key,
           CAST(:study_instance_uid AS varchar), CAST(:series_instance_uid AS varchar),
           CAST(:sop_instance_uid AS varchar), CAST(:sop_class_uid AS varchar),
           CAST(:instance_number AS bigint), w.watermark, w.watermark,
           CAST(:status AS smallint), CAST(:transfer_syntax_uid AS varchar),
           CAST(:number_of_frames AS integer), CAST(:blob_key AS varchar),
           CAST(:blob_size AS bigint), CAST(:created_date AS timestamptz),
           CAST(:created_date AS timestamptz)
      FROM series_row s, (SELECT nextval('watermark_sequence') AS watermark) w
    RETURNING instance_key, study_key, series_key, watermark
), metadata AS (
    INSERT INTO instance_metadata (watermark, partition_key, dataset)
    SELECT watermark, CAST(:partition_key AS bigint), CAST(:dataset AS text) FROM instance
), blob AS (
    INSERT INTO blobs (blob_key, size, ref_count, created_date)
    SELECT CAST(:blob_key AS varchar), CAST(:blob_size AS bigint), 1,
           CAST(:created_date AS timestamptz) FROM instance
    ON CONFLICT (blob_key) DO UPDATE SET ref_count = blobs.ref_count + 1
), feed AS (
    INSERT INTO change_feed (timestamp, action, partition_key, study_instance_uid,
                             series_instance_uid, sop_instance_uid, original_watermark,
                             current_watermark)
    SELECT CAST(:created_date AS timestamptz), CAST(:action AS smallint),
           CAST(:partition_key AS bigint), CAST(:study_instance_uid AS varchar),
           CAST(:series_instance_uid AS varchar), CAST(:sop_instance_uid AS varchar),
           watermark, watermark
      FROM instance
), replaced AS (
    -- A re-created instance: its earlier entries now read "Replaced" (change feed, issue #6).
    -- Sibling CTEs share one snapshot, so the entry inserted above is not touched.
    UPDATE change_feed SET current_watermark = instance.watermark
      FROM instance
     WHERE change_feed.partition_key = :partition_key
       AND change_feed.study_instance_uid = :study_instance_uid
       AND change_feed.series_instance_uid = :series_instance_uid
       AND change_feed.sop_instance_uid = :sop_instance_uid
), words AS (
    INSERT INTO study_name_words (partition_key, study_key, name_kind, word)
    SELECT DISTINCT CAST(:partition_key AS bigint), instance.study_key, w.name_kind, w.word
      FROM instance,
           unnest(CAST(:name_kinds AS integer[]), CAST(:name_words AS text[])) AS w(name_kind, word)
    ON CONFLICT (study_key, name_kind, word) DO NOTHING
)
SELECT instance_key, study_key, series_key, watermark,
       (SELECT COALESCE(string_agg(tag_key || ':' || tag_status, ',' ORDER BY tag_key), '')
          FROM extended_query_tags WHERE tag_status IN (0, 1)) AS tag_signature
  FROM instance;

-- name: lock_partition_quota(partition_key)
-- Serialize the stores into a partition that has a quota, until commit (an advisory lock in
-- the key space 7462), so each reads what the ones before it stored (get_partition_usage) and
-- concurrent stores cannot overshoot the quota.
SELECT pg_advisory_xact_lock(7462, CAST(:partition_key AS integer)) AS locked;

-- name: lock_partition_for_store(partition_key)^
-- The first check of a store transaction into an existing partition: its status and quota,
-- with the key-share lock its instance rows' foreign key takes anyway, taken now: a partition
-- deletion's last step (lock_partition_for_removal) waits for this store and then sees its
-- rows, and a store that comes after that step waits for it and reads the deleted status.
SELECT status, max_instances, max_bytes FROM partitions
 WHERE partition_key = :partition_key
   FOR KEY SHARE;

-- name: reserve_blobs(blob_keys, sizes, created_date)
-- Hold these files' rows until commit, before their objects are put (object storage, where
-- checking an object after the put is a request): a missing row is inserted without a
-- reference (ref_count 0; the instance's own insert counts it), an existing one is locked
-- FOR KEY SHARE. Either blocks the removal of a released file (its DELETE of the row) and the
-- sweep's claim, so no object put after this can be removed before this transaction commits
-- its reference; DELETE's count decrement (FOR NO KEY UPDATE) is not blocked, so a DELETE
-- holding a study never waits on this. The keys held: a row deleted between the insert and
-- the lock is in neither set, and the caller asks again. Keys in sorted order (one global
-- lock order between concurrent batches).
WITH inserted AS (
    INSERT INTO blobs (blob_key, size, ref_count, created_date)
    SELECT k.blob_key, k.size, 0, CAST(:created_date AS timestamptz)
      FROM unnest(CAST(:blob_keys AS varchar[]), CAST(:sizes AS bigint[])) AS k(blob_key, size)
     ORDER BY k.blob_key
    ON CONFLICT (blob_key) DO NOTHING
    RETURNING blob_key
), locked AS (
    SELECT blob_key FROM blobs WHERE blob_key = ANY(CAST(:blob_keys AS varchar[]))
     ORDER BY blob_key
       FOR KEY SHARE
)
SELECT blob_key FROM inserted UNION ALL SELECT blob_key FROM locked;

-- QIDO-RS (search): the static queries. The search itself is built in app/dao/query.py from
-- whitelisted columns and bound parameters. Mirrors the reference's Sprocs/GetExtendedQueryTags.

-- name: list_extended_query_tag_definitions()
-- Every extended query tag definition (global; a small table).
SELECT tag_key, tag_path, tag_vr, tag_private_creator, tag_level, tag_status, query_status,
       error_count
  FROM extended_query_tags;

-- name: add_study_name_word(partition_key, study_key, name_kind, word)!
-- Record one lower-case word of a study's person name (name_kind 0 = PatientName,
-- 1 = ReferringPhysicianName) for fuzzy matching.
INSERT INTO study_name_words (partition_key, study_key, name_kind, word)
VALUES (:partition_key, :study_key, :name_kind, :word)
ON CONFLICT (study_key, name_kind, word) DO NOTHING;

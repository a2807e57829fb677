-- QIDO-RS (issue #5): indexes for paging newest-first, case-insensitive person names and
-- prefix wildcards, and the words of person names for fuzzy matching. Every index leads with
-- the partition key (decisions §2, §6).

-- Newest-first pages of one partition (ORDER BY key DESC LIMIT n).
CREATE INDEX ix_studies_partition_study ON studies (partition_key, study_key);
CREATE INDEX ix_series_partition_series ON series (partition_key, series_key);
CREATE INDEX ix_instances_partition_watermark ON instances (partition_key, watermark);

-- PN matching is case-insensitive: '= ? COLLATE NOCASE' and LIKE (ASCII case-insensitive).
CREATE INDEX ix_studies_patient_name_nocase
    ON studies (partition_key, patient_name COLLATE NOCASE);
CREATE INDEX ix_studies_referring_physician_nocase
    ON studies (partition_key, referring_physician_name COLLATE NOCASE);
CREATE INDEX ix_studies_patient_birth_date ON studies (partition_key, patient_birth_date);
CREATE INDEX ix_series_ppss_date ON series (partition_key, performed_procedure_step_start_date);
CREATE INDEX ix_series_model ON series (partition_key, manufacturer_model_name);

-- Words of person names (lower case), one row per word: fuzzy matching is a prefix range scan
-- per query word. name_kind: 0 = PatientName, 1 = ReferringPhysicianName.
CREATE TABLE study_name_words (
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    name_kind SMALLINT NOT NULL,
    word VARCHAR(200) NOT NULL,
    PRIMARY KEY (study_key, name_kind, word)
);
CREATE INDEX ix_study_name_words_word ON study_name_words (partition_key, name_kind, word, study_key);

INSERT INTO study_name_words (partition_key, study_key, name_kind, word)
WITH RECURSIVE split(partition_key, study_key, name_kind, word, rest) AS (
    SELECT partition_key, study_key, 0, '', patient_name_words || ' '
      FROM studies WHERE patient_name_words IS NOT NULL
    UNION ALL
    SELECT partition_key, study_key, 1, '', referring_physician_name_words || ' '
      FROM studies WHERE referring_physician_name_words IS NOT NULL
    UNION ALL
    SELECT partition_key, study_key, name_kind, substr(rest, 1, instr(rest, ' ') - 1),
           substr(rest, instr(rest, ' ') + 1)
      FROM split WHERE rest <> ''
)
SELECT DISTINCT partition_key, study_key, name_kind, word FROM split WHERE word <> '';

-- QIDO-RS (issue #5): indexes for paging newest-first, case-insensitive person names and
-- prefix wildcards, and the words of person names for fuzzy matching. Every index leads with
-- the partition key (decisions §2, §6).

-- Newest-first pages of one partition (ORDER BY key DESC LIMIT n).
CREATE INDEX ix_studies_partition_study ON studies (partition_key, study_key);
CREATE INDEX ix_series_partition_series ON series (partition_key, series_key);
CREATE INDEX ix_instances_partition_watermark ON instances (partition_key, watermark);

-- PN matching is case-insensitive: lower() equality and LIKE 'prefix%' (text_pattern_ops, as
-- the database collation is not "C").
CREATE INDEX ix_studies_patient_name_lower
    ON studies (partition_key, lower(patient_name) text_pattern_ops);
CREATE INDEX ix_studies_referring_physician_lower
    ON studies (partition_key, lower(referring_physician_name) text_pattern_ops);
-- Prefix wildcards on identifiers (PatientID=123*, AccessionNumber=A1*).
CREATE INDEX ix_studies_patient_id_pattern ON studies (partition_key, patient_id text_pattern_ops);
CREATE INDEX ix_studies_accession_pattern
    ON studies (partition_key, accession_number text_pattern_ops);
CREATE INDEX ix_studies_patient_birth_date ON studies (partition_key, patient_birth_date);
CREATE INDEX ix_series_ppss_date ON series (partition_key, performed_procedure_step_start_date);
CREATE INDEX ix_series_model ON series (partition_key, manufacturer_model_name);

-- Words of person names (lower case), one row per word: fuzzy matching is a prefix range scan
-- per query word. name_kind: 0 = PatientName, 1 = ReferringPhysicianName. "C" collation so the
-- range [word, next) is a code-point prefix range, as in SQLite.
CREATE TABLE study_name_words (
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    name_kind SMALLINT NOT NULL,
    word VARCHAR(200) COLLATE "C" NOT NULL,
    PRIMARY KEY (study_key, name_kind, word)
);
CREATE INDEX ix_study_name_words_word ON study_name_words (partition_key, name_kind, word, study_key);

INSERT INTO study_name_words (partition_key, study_key, name_kind, word)
SELECT DISTINCT partition_key, study_key, 0, w
  FROM studies, regexp_split_to_table(patient_name_words, ' ') AS w
 WHERE patient_name_words IS NOT NULL AND w <> '';
INSERT INTO study_name_words (partition_key, study_key, name_kind, word)
SELECT DISTINCT partition_key, study_key, 1, w
  FROM studies, regexp_split_to_table(referring_physician_name_words, ' ') AS w
 WHERE referring_physician_name_words IS NOT NULL AND w <> '';

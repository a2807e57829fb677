-- Matching collations (issue #21 item 6): the folded columns of 0110 replace the originals'
-- search indexes (the same attributes as before, now matched case-insensitively).
DROP INDEX ix_studies_patient_id;
DROP INDEX ix_studies_patient_name;
DROP INDEX ix_studies_accession_number;
DROP INDEX ix_series_modality;
DROP INDEX ix_series_model;
DROP INDEX ix_eqt_person_name_value;
CREATE INDEX ix_studies_patient_id_folded ON studies (partition_key, patient_id_folded);
CREATE INDEX ix_studies_patient_name_folded ON studies (partition_key, patient_name_folded);
CREATE INDEX ix_studies_referring_physician_folded
    ON studies (partition_key, referring_physician_name_folded);
CREATE INDEX ix_studies_accession_number_folded
    ON studies (partition_key, accession_number_folded);
CREATE INDEX ix_series_modality_folded ON series (partition_key, modality_folded);
CREATE INDEX ix_series_model_folded ON series (partition_key, manufacturer_model_name_folded);
CREATE INDEX ix_eqt_string_folded
    ON extended_query_tag_string (tag_key, partition_key, tag_value_folded);
CREATE INDEX ix_eqt_person_name_folded
    ON extended_query_tag_person_name (tag_key, partition_key, tag_value_folded);

-- Rows stored before 0110 get their folded values from the backfill that startup
-- runs once, in batches (app/services/collations.py), which then deletes its row here.
CREATE TABLE pending_backfills (
    name VARCHAR(64) PRIMARY KEY
);
INSERT INTO pending_backfills (name) VALUES ('collations');

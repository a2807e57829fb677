-- Matching collations (issue #21 item 6; decisions §6): every searchable string is stored a
-- second time folded for comparison (app/dicomweb/collation.py: PN lower case without accents,
-- other strings lower case), computed in Python at store time, so both databases match the
-- same way with ordinary indexes (GLOB 'prefix*' uses them). A folded column is twice as long
-- as its column (NFKD can lengthen a name).
ALTER TABLE studies ADD COLUMN patient_id_folded VARCHAR(128);
ALTER TABLE studies ADD COLUMN patient_name_folded VARCHAR(400);
ALTER TABLE studies ADD COLUMN referring_physician_name_folded VARCHAR(400);
ALTER TABLE studies ADD COLUMN study_description_folded VARCHAR(128);
ALTER TABLE studies ADD COLUMN accession_number_folded VARCHAR(32);
ALTER TABLE studies ADD COLUMN study_id_folded VARCHAR(32);
ALTER TABLE series ADD COLUMN modality_folded VARCHAR(32);
ALTER TABLE series ADD COLUMN manufacturer_model_name_folded VARCHAR(128);
ALTER TABLE extended_query_tag_string ADD COLUMN tag_value_folded VARCHAR(128);
ALTER TABLE extended_query_tag_person_name ADD COLUMN tag_value_folded VARCHAR(400);

-- Their search indexes replace these (0111_collation_indexes.sql).
DROP INDEX ix_studies_patient_name_nocase;
DROP INDEX ix_studies_referring_physician_nocase;

-- The collation backfill (app/services/collations.py, issue #21 item 6): rows stored before
-- migration 0110 get their folded columns in batches. PostgreSQL locks each batch's rows
-- (FOR NO KEY UPDATE: stores that find a study unchanged, FOR KEY SHARE, do not wait) so a
-- concurrent store's new values are never overwritten with folds of the old ones.

-- name: list_studies_to_fold(after_key, batch_size)
-- The next studies (by key) with a string column whose folded twin is missing,
-- locked until commit (a store updating one of them waits for the batch).
SELECT study_key, patient_id, patient_name, referring_physician_name, study_description,
       accession_number, study_id
  FROM studies
 WHERE study_key > :after_key
   AND (patient_id_folded IS NULL
        OR (patient_name IS NOT NULL AND patient_name_folded IS NULL)
        OR (referring_physician_name IS NOT NULL AND referring_physician_name_folded IS NULL)
        OR (study_description IS NOT NULL AND study_description_folded IS NULL)
        OR (accession_number IS NOT NULL AND accession_number_folded IS NULL)
        OR (study_id IS NOT NULL AND study_id_folded IS NULL))
 ORDER BY study_key
 LIMIT :batch_size
   FOR NO KEY UPDATE;

-- name: list_series_to_fold(after_key, batch_size)
-- The next series (by key) with a string column whose folded twin is missing,
-- locked until commit (a store updating one of them waits for the batch).
SELECT series_key, modality, manufacturer_model_name
  FROM series
 WHERE series_key > :after_key
   AND ((modality IS NOT NULL AND modality_folded IS NULL)
        OR (manufacturer_model_name IS NOT NULL AND manufacturer_model_name_folded IS NULL))
 ORDER BY series_key
 LIMIT :batch_size
   FOR NO KEY UPDATE;

-- name: list_string_values_to_fold(tag_key, partition_key, study_key, series_key, instance_key, batch_size)
-- The next extended query tag string values (by primary key) without their folded form,
-- locked until commit (a store updating one of them waits for the batch).
SELECT tag_key, partition_key, study_key, series_key, instance_key, tag_value
  FROM extended_query_tag_string
 WHERE (tag_key, partition_key, study_key, series_key, instance_key)
       > (:tag_key, :partition_key, :study_key, :series_key, :instance_key)
   AND tag_value_folded IS NULL
 ORDER BY tag_key, partition_key, study_key, series_key, instance_key
 LIMIT :batch_size
   FOR NO KEY UPDATE;

-- name: list_person_name_values_to_fold(tag_key, partition_key, study_key, series_key, instance_key, batch_size)
-- The next extended query tag person names (by primary key) without their folded form,
-- locked until commit (a store updating one of them waits for the batch).
SELECT tag_key, partition_key, study_key, series_key, instance_key, tag_value
  FROM extended_query_tag_person_name
 WHERE (tag_key, partition_key, study_key, series_key, instance_key)
       > (:tag_key, :partition_key, :study_key, :series_key, :instance_key)
   AND tag_value_folded IS NULL
 ORDER BY tag_key, partition_key, study_key, series_key, instance_key
 LIMIT :batch_size
   FOR NO KEY UPDATE;

-- name: set_studies_folded(rows)!
-- Set the folded columns of a batch of studies (a JSON array of objects: study_key and them).
UPDATE studies AS t
   SET patient_id_folded = v.patient_id_folded,
       patient_name_folded = v.patient_name_folded,
       referring_physician_name_folded = v.referring_physician_name_folded,
       study_description_folded = v.study_description_folded,
       accession_number_folded = v.accession_number_folded,
       study_id_folded = v.study_id_folded
  FROM json_to_recordset(CAST(:rows AS json)) AS v(study_key bigint, patient_id_folded text, patient_name_folded text, referring_physician_name_folded text, study_description_folded text, accession_number_folded text, study_id_folded text)
 WHERE t.study_key = v.study_key;

-- name: set_series_folded(rows)!
-- Set the folded columns of a batch of series (a JSON array of objects, as studies).
UPDATE series AS t
   SET modality_folded = v.modality_folded,
       manufacturer_model_name_folded = v.manufacturer_model_name_folded
  FROM json_to_recordset(CAST(:rows AS json)) AS v(series_key bigint, modality_folded text, manufacturer_model_name_folded text)
 WHERE t.series_key = v.series_key;

-- name: set_string_values_folded(rows)!
-- Set tag_value_folded of a batch of string values (JSON objects: primary key and it).
UPDATE extended_query_tag_string AS t
   SET tag_value_folded = v.tag_value_folded
  FROM json_to_recordset(CAST(:rows AS json)) AS v(tag_key bigint, partition_key bigint, study_key bigint, series_key bigint, instance_key bigint, tag_value_folded text)
 WHERE t.tag_key = v.tag_key
   AND t.partition_key = v.partition_key
   AND t.study_key = v.study_key
   AND t.series_key = v.series_key
   AND t.instance_key = v.instance_key;

-- name: set_person_name_values_folded(rows)!
-- Set tag_value_folded of a batch of person names (JSON objects: primary key and it).
UPDATE extended_query_tag_person_name AS t
   SET tag_value_folded = v.tag_value_folded
  FROM json_to_recordset(CAST(:rows AS json)) AS v(tag_key bigint, partition_key bigint, study_key bigint, series_key bigint, instance_key bigint, tag_value_folded text)
 WHERE t.tag_key = v.tag_key
   AND t.partition_key = v.partition_key
   AND t.study_key = v.study_key
   AND t.series_key = v.series_key
   AND t.instance_key = v.instance_key;

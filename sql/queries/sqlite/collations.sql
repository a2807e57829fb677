-- The collation backfill (app/services/collations.py, issue #21 item 6): rows stored before
-- migration 0110 get their folded columns in batches. SQLite serialises write transactions, so
-- a batch read and written in one needs no row locks (postgresql/collations.sql takes them).

-- name: list_studies_to_fold(after_key, batch_size)
-- The next studies (by key) with a string column whose folded twin is missing.
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
 LIMIT :batch_size;

-- name: list_series_to_fold(after_key, batch_size)
-- The next series (by key) with a string column whose folded twin is missing.
SELECT series_key, modality, manufacturer_model_name
  FROM series
 WHERE series_key > :after_key
   AND ((modality IS NOT NULL AND modality_folded IS NULL)
        OR (manufacturer_model_name IS NOT NULL AND manufacturer_model_name_folded IS NULL))
 ORDER BY series_key
 LIMIT :batch_size;

-- name: list_string_values_to_fold(tag_key, partition_key, study_key, series_key, instance_key, batch_size)
-- The next extended query tag string values (by primary key) without their folded form.
SELECT tag_key, partition_key, study_key, series_key, instance_key, tag_value
  FROM extended_query_tag_string
 WHERE (tag_key, partition_key, study_key, series_key, instance_key)
       > (:tag_key, :partition_key, :study_key, :series_key, :instance_key)
   AND tag_value_folded IS NULL
 ORDER BY tag_key, partition_key, study_key, series_key, instance_key
 LIMIT :batch_size;

-- name: list_person_name_values_to_fold(tag_key, partition_key, study_key, series_key, instance_key, batch_size)
-- The next extended query tag person names (by primary key) without their folded form.
SELECT tag_key, partition_key, study_key, series_key, instance_key, tag_value
  FROM extended_query_tag_person_name
 WHERE (tag_key, partition_key, study_key, series_key, instance_key)
       > (:tag_key, :partition_key, :study_key, :series_key, :instance_key)
   AND tag_value_folded IS NULL
 ORDER BY tag_key, partition_key, study_key, series_key, instance_key
 LIMIT :batch_size;

-- name: set_studies_folded(rows)!
-- Set the folded columns of a batch of studies (a JSON array of objects: study_key and them).
UPDATE studies
   SET patient_id_folded = v.patient_id_folded,
       patient_name_folded = v.patient_name_folded,
       referring_physician_name_folded = v.referring_physician_name_folded,
       study_description_folded = v.study_description_folded,
       accession_number_folded = v.accession_number_folded,
       study_id_folded = v.study_id_folded
  FROM (SELECT json_extract(value, '$.study_key') AS study_key,
               json_extract(value, '$.patient_id_folded') AS patient_id_folded,
               json_extract(value, '$.patient_name_folded') AS patient_name_folded,
               json_extract(value, '$.referring_physician_name_folded') AS referring_physician_name_folded,
               json_extract(value, '$.study_description_folded') AS study_description_folded,
               json_extract(value, '$.accession_number_folded') AS accession_number_folded,
               json_extract(value, '$.study_id_folded') AS study_id_folded
          FROM json_each(:rows)) AS v
 WHERE studies.study_key = v.study_key;

-- name: set_series_folded(rows)!
-- Set the folded columns of a batch of series (a JSON array of objects, as studies).
UPDATE series
   SET modality_folded = v.modality_folded,
       manufacturer_model_name_folded = v.manufacturer_model_name_folded
  FROM (SELECT json_extract(value, '$.series_key') AS series_key,
               json_extract(value, '$.modality_folded') AS modality_folded,
               json_extract(value, '$.manufacturer_model_name_folded') AS manufacturer_model_name_folded
          FROM json_each(:rows)) AS v
 WHERE series.series_key = v.series_key;

-- name: set_string_values_folded(rows)!
-- Set tag_value_folded of a batch of string values (JSON objects: primary key and it).
UPDATE extended_query_tag_string
   SET tag_value_folded = v.tag_value_folded
  FROM (SELECT json_extract(value, '$.tag_key') AS tag_key,
               json_extract(value, '$.partition_key') AS partition_key,
               json_extract(value, '$.study_key') AS study_key,
               json_extract(value, '$.series_key') AS series_key,
               json_extract(value, '$.instance_key') AS instance_key,
               json_extract(value, '$.tag_value_folded') AS tag_value_folded
          FROM json_each(:rows)) AS v
 WHERE extended_query_tag_string.tag_key = v.tag_key
   AND extended_query_tag_string.partition_key = v.partition_key
   AND extended_query_tag_string.study_key = v.study_key
   AND extended_query_tag_string.series_key = v.series_key
   AND extended_query_tag_string.instance_key = v.instance_key;

-- name: set_person_name_values_folded(rows)!
-- Set tag_value_folded of a batch of person names (JSON objects: primary key and it).
UPDATE extended_query_tag_person_name
   SET tag_value_folded = v.tag_value_folded
  FROM (SELECT json_extract(value, '$.tag_key') AS tag_key,
               json_extract(value, '$.partition_key') AS partition_key,
               json_extract(value, '$.study_key') AS study_key,
               json_extract(value, '$.series_key') AS series_key,
               json_extract(value, '$.instance_key') AS instance_key,
               json_extract(value, '$.tag_value_folded') AS tag_value_folded
          FROM json_each(:rows)) AS v
 WHERE extended_query_tag_person_name.tag_key = v.tag_key
   AND extended_query_tag_person_name.partition_key = v.partition_key
   AND extended_query_tag_person_name.study_key = v.study_key
   AND extended_query_tag_person_name.series_key = v.series_key
   AND extended_query_tag_person_name.instance_key = v.instance_key;

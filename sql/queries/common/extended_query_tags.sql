-- Extended query tags: definitions, values and errors (reference.md §8).
-- Mirrors the reference's Sprocs/AddExtendedQueryTags*.sql, GetExtendedQueryTag*.sql,
-- DeleteExtendedQueryTag*.sql, UpdateExtendedQueryTagQueryStatus.sql and the re-index reads.
-- Values are written with dynamic multi-row upserts (app/dao/extended_query_tags.py), the
-- only SQL composed in Python here, from whitelisted table names.

-- name: list_extended_query_tags(limit, offset)
-- One page of tag definitions, in creation order.
SELECT tag_key, tag_path, tag_vr, tag_private_creator, tag_level, tag_status, query_status,
       error_count, operation_id, created_time
  FROM extended_query_tags
 ORDER BY tag_key
 LIMIT :limit OFFSET :offset;

-- name: list_indexable_extended_query_tags()
-- Tags whose values new instances must index: adding (re-index running) or ready.
SELECT tag_key, tag_path, tag_vr, tag_private_creator, tag_level, tag_status, query_status,
       error_count, operation_id, created_time
  FROM extended_query_tags
 WHERE tag_status IN (0, 1)
 ORDER BY tag_key;

-- name: get_extended_query_tag(tag_path)^
-- The tag with this path, or None.
SELECT tag_key, tag_path, tag_vr, tag_private_creator, tag_level, tag_status, query_status,
       error_count, operation_id, created_time
  FROM extended_query_tags
 WHERE tag_path = :tag_path;

-- name: get_extended_query_tag_by_key(tag_key)^
-- The tag with this key, or None.
SELECT tag_key, tag_path, tag_vr, tag_private_creator, tag_level, tag_status, query_status,
       error_count, operation_id, created_time
  FROM extended_query_tags
 WHERE tag_key = :tag_key;

-- name: count_extended_query_tags()^
-- How many tags exist (every status).
SELECT count(*) AS tag_count FROM extended_query_tags;

-- name: add_extended_query_tag(tag_path, tag_vr, tag_private_creator, tag_level, tag_status, operation_id, created_time)^
-- Insert a tag definition; returns its key.
INSERT INTO extended_query_tags (tag_path, tag_vr, tag_private_creator, tag_level, tag_status,
                                 query_status, error_count, operation_id, created_time)
VALUES (:tag_path, :tag_vr, :tag_private_creator, :tag_level, :tag_status, 1, 0,
        :operation_id, :created_time)
RETURNING tag_key;

-- name: update_extended_query_tag_query_status(tag_key, query_status)!
-- Enable or disable querying on a tag.
UPDATE extended_query_tags SET query_status = :query_status WHERE tag_key = :tag_key;

-- name: complete_extended_query_tag(tag_key, operation_id, error_count)!
-- Mark a re-indexed tag ready; errors disable querying (the user may re-enable it).
UPDATE extended_query_tags
   SET tag_status = 1,
       operation_id = NULL,
       error_count = :error_count,
       query_status = CASE WHEN :error_count > 0 THEN 0 ELSE query_status END
 WHERE tag_key = :tag_key AND tag_status = 0 AND operation_id = :operation_id;

-- name: release_extended_query_tag(tag_key, operation_id)!
-- Detach a tag from a failed operation (it stays "adding" and may be deleted).
UPDATE extended_query_tags SET operation_id = NULL
 WHERE tag_key = :tag_key AND operation_id = :operation_id;

-- name: mark_extended_query_tag_deleting(tag_key)!
-- Status "deleting" while its rows are removed.
UPDATE extended_query_tags SET tag_status = 2 WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_strings(tag_key)!
DELETE FROM extended_query_tag_string WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_longs(tag_key)!
DELETE FROM extended_query_tag_long WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_doubles(tag_key)!
DELETE FROM extended_query_tag_double WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_datetimes(tag_key)!
DELETE FROM extended_query_tag_datetime WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag_person_names(tag_key)!
DELETE FROM extended_query_tag_person_name WHERE tag_key = :tag_key;

-- name: delete_errors_of_extended_query_tag(tag_key)!
DELETE FROM extended_query_tag_errors WHERE tag_key = :tag_key;

-- name: delete_extended_query_tag(tag_key)!
-- Remove the definition (after its values and errors).
DELETE FROM extended_query_tags WHERE tag_key = :tag_key;

-- name: add_extended_query_tag_error(tag_key, partition_key, watermark, study_instance_uid, series_instance_uid, sop_instance_uid, error_message, created_time)!
-- Record why an instance's value could not be indexed (once per tag and instance version).
INSERT INTO extended_query_tag_errors (tag_key, partition_key, watermark, study_instance_uid,
                                       series_instance_uid, sop_instance_uid, error_message,
                                       created_time)
VALUES (:tag_key, :partition_key, :watermark, :study_instance_uid, :series_instance_uid,
        :sop_instance_uid, :error_message, :created_time)
ON CONFLICT (tag_key, watermark) DO NOTHING;

-- name: count_extended_query_tag_errors(tag_key)^
-- How many instances failed to index this tag.
SELECT count(*) AS error_count FROM extended_query_tag_errors WHERE tag_key = :tag_key;

-- name: list_extended_query_tag_errors(tag_key, limit, offset)
-- One page of a tag's errors, oldest first, with the partition name.
SELECT e.partition_key, p.partition_name, e.watermark, e.study_instance_uid,
       e.series_instance_uid, e.sop_instance_uid, e.error_message, e.created_time
  FROM extended_query_tag_errors e
  JOIN partitions p ON p.partition_key = e.partition_key
 WHERE e.tag_key = :tag_key
 ORDER BY e.created_time, e.watermark
 LIMIT :limit OFFSET :offset;

-- name: list_instances_to_reindex(after_watermark, batch_size)
-- The next batch of stored instances (keyset pagination by watermark) with their metadata.
SELECT i.watermark, i.partition_key, i.study_key, i.series_key, i.instance_key,
       i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid, m.dataset
  FROM instances i
  JOIN instance_metadata m ON m.watermark = i.watermark
 WHERE i.watermark > :after_watermark AND i.status = 1
 ORDER BY i.watermark
 LIMIT :batch_size;

-- name: count_instances_to_reindex()^
-- How many stored instances a re-index visits (for percentComplete).
SELECT count(*) AS instance_count FROM instances WHERE status = 1;

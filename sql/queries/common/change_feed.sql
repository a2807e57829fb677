-- The change feed (reference.md §7; Sprocs/GetChangeFeedV39.sql, GetChangeFeedByTimeV39.sql,
-- GetChangeFeedLatestV39.sql, GetChangeFeedLatestByTimeV39.sql). Each read selects entries with
-- their partition name from the change_feed_entries view (schema 0060) and, when
-- include_metadata is 1, joins the DICOM JSON of the entry's current version.
-- The *_in_partition variants serve /partitions/{p}/changefeed (decisions: issue #6).
-- Reads show entries up to get_change_feed_bounds (<dialect>/change_feed.sql): the services
-- pass end_sequence / end_time no later than those bounds.

-- name: replace_change_feed_watermark(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid, watermark)!
-- Point the entries of an instance (same partition and UIDs) at its newest version, so earlier
-- entries read "Replaced" after a re-create (store path).
UPDATE change_feed SET current_watermark = :watermark
 WHERE partition_key = :partition_key AND study_instance_uid = :study_instance_uid
   AND series_instance_uid = :series_instance_uid AND sop_instance_uid = :sop_instance_uid
   AND (current_watermark IS NULL OR current_watermark <> :watermark);

-- name: list_change_feed(start_sequence, end_sequence, include_metadata)
-- v1: the entries with start_sequence < sequence <= end_sequence, in sequence order.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.sequence > :start_sequence AND cf.sequence <= :end_sequence
 ORDER BY cf.sequence;

-- name: list_change_feed_in_partition(partition_key, start_sequence, end_sequence, limit, include_metadata)
-- v1, one partition: the first `limit` entries of the partition after start_sequence, up to
-- end_sequence.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.partition_key = :partition_key AND cf.sequence > :start_sequence
   AND cf.sequence <= :end_sequence
 ORDER BY cf.sequence
 LIMIT :limit;

-- name: list_change_feed_by_time(start_time, end_time, offset, limit, include_metadata)
-- v2: the entries with start_time <= timestamp < end_time, by (timestamp, sequence), paged.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.timestamp >= :start_time AND cf.timestamp < :end_time
 ORDER BY cf.timestamp, cf.sequence
 LIMIT :limit OFFSET :offset;

-- name: list_change_feed_by_time_in_partition(partition_key, start_time, end_time, offset, limit, include_metadata)
-- v2, one partition: as list_change_feed_by_time, for the partition's entries only.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.partition_key = :partition_key
   AND cf.timestamp >= :start_time AND cf.timestamp < :end_time
 ORDER BY cf.timestamp, cf.sequence
 LIMIT :limit OFFSET :offset;

-- name: get_change_feed_latest(end_sequence, include_metadata)^
-- v1: the entry with the highest sequence up to end_sequence, or None.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.sequence <= :end_sequence
 ORDER BY cf.sequence DESC
 LIMIT 1;

-- name: get_change_feed_latest_in_partition(partition_key, end_sequence, include_metadata)^
-- v1, one partition: the partition's entry with the highest sequence up to end_sequence, or
-- None.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.partition_key = :partition_key AND cf.sequence <= :end_sequence
 ORDER BY cf.sequence DESC
 LIMIT 1;

-- name: get_change_feed_latest_by_time(end_time, include_metadata)^
-- v2: the latest entry by (timestamp, sequence) before end_time, or None.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.timestamp < :end_time
 ORDER BY cf.timestamp DESC, cf.sequence DESC
 LIMIT 1;

-- name: get_change_feed_latest_by_time_in_partition(partition_key, end_time, include_metadata)^
-- v2, one partition: the partition's latest entry by (timestamp, sequence) before end_time, or
-- None.
SELECT cf.*, m.dataset
  FROM change_feed_entries cf
  LEFT JOIN instance_metadata m ON :include_metadata = 1 AND m.watermark = cf.current_watermark
 WHERE cf.partition_key = :partition_key AND cf.timestamp < :end_time
 ORDER BY cf.timestamp DESC, cf.sequence DESC
 LIMIT 1;

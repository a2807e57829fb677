-- The change feed as its reads return it (issue #14): every entry with its partition's name.
-- The reads in sql/queries/common/change_feed.sql select from this view; both databases
-- inline it into each query, so their plans are those of the join written out.
CREATE VIEW change_feed_entries AS
SELECT cf.sequence, cf.timestamp, cf.action, cf.partition_key, p.partition_name,
       cf.study_instance_uid, cf.series_instance_uid, cf.sop_instance_uid,
       cf.original_watermark, cf.current_watermark
  FROM change_feed cf
  JOIN partitions p ON p.partition_key = cf.partition_key;

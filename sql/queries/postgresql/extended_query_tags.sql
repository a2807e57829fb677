-- Extended query tags: the queries whose SQL differs by database (the others are in
-- ../common/extended_query_tags.sql).

-- name: lock_live_instances(watermarks)
-- Of these instance versions (an array: Engine.list_parameter), the ones still stored, locked
-- FOR SHARE until commit: a concurrent delete waits for the re-index batch, then removes its
-- values too.
SELECT watermark FROM instances
 WHERE status = 1 AND watermark = ANY(:watermarks)
   FOR SHARE;

-- Extended query tags: the queries whose SQL differs by database (the others are in
-- ../common/extended_query_tags.sql).

-- name: lock_live_instances(watermarks)
-- Of these instance versions (a JSON array: Engine.list_parameter), the ones still stored.
-- No row lock: SQLite serialises write transactions, so no delete runs during the batch.
SELECT watermark FROM instances
 WHERE status = 1 AND watermark IN (SELECT value FROM json_each(:watermarks));

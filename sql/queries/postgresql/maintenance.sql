-- Maintenance (services/maintenance.py): the blob sweep's reference check, and a new
-- database's first statistics.

-- name: list_referenced_blob_keys(blob_keys)
-- Which of these file keys (an array: Engine.list_parameter) a blobs row references.
SELECT blob_key FROM blobs WHERE blob_key = ANY(:blob_keys);

-- name: get_store_tables_never_analyzed()^
-- A row while the instances table was never analyzed (reltuples is -1 until its first VACUUM
-- or ANALYZE), else None. PostgreSQL only (Engine.needs_first_analyze).
SELECT 1 AS never_analyzed FROM pg_class
 WHERE oid = CAST('instances' AS regclass) AND reltuples < 0;

-- name: analyze_store_tables()!
-- Give the planner statistics of the store tables (kept only if the transaction commits).
-- PostgreSQL only (Engine.needs_first_analyze).
ANALYZE studies, series, instances, change_feed;

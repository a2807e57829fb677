-- Maintenance (services/blob_sweep.py, services/maintenance.py): released files, the sweep's
-- reference check, a new database's first statistics (common/maintenance.sql: the rest).

-- name: remove_released_blobs(blob_keys)
-- Remove the rows of these released files (nothing references them), locking them until
-- commit (a STOW of the same bytes waits, then inserts the row anew and re-puts its file); the
-- keys removed (not those a STOW references again).
DELETE FROM blobs WHERE blob_key = ANY(:blob_keys) AND ref_count <= 0
RETURNING blob_key;

-- name: list_referenced_blob_keys(blob_keys)
-- Which of these file keys (an array: Engine.list_parameter) a blobs row references.
SELECT blob_key FROM blobs WHERE blob_key = ANY(:blob_keys);

-- name: list_live_blob_keys(blob_keys)
-- Which of these file keys an index row references now (not released: ref_count above 0); the
-- S3 read cache keeps copies of these only (services/blob_cache.py).
SELECT blob_key FROM blobs WHERE blob_key = ANY(:blob_keys) AND ref_count > 0;

-- name: get_store_tables_never_analyzed()^
-- A row while the instances table was never analyzed (reltuples is -1 until its first VACUUM
-- or ANALYZE), else None. PostgreSQL only (Engine.needs_first_analyze).
SELECT 1 AS never_analyzed FROM pg_class
 WHERE oid = CAST('instances' AS regclass) AND reltuples < 0;

-- name: analyze_store_tables()!
-- Give the planner statistics of the store tables (kept only if the transaction commits).
-- PostgreSQL only (Engine.needs_first_analyze).
ANALYZE studies, series, instances, change_feed;

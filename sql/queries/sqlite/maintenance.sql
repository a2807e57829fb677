-- Maintenance (services/blob_sweep.py, services/maintenance.py): released files, the sweep's
-- reference check (common/maintenance.sql: the rest).

-- name: remove_released_blobs(blob_keys)
-- Remove the rows of these released files (nothing references them), locking them until
-- commit (a STOW of the same bytes waits, then inserts the row anew and re-puts its file); the
-- keys removed (not those a STOW references again).
DELETE FROM blobs WHERE blob_key IN (SELECT value FROM json_each(:blob_keys)) AND ref_count <= 0
RETURNING blob_key;

-- name: list_referenced_blob_keys(blob_keys)
-- Which of these file keys (a JSON array: Engine.list_parameter) a blobs row references.
SELECT blob_key FROM blobs WHERE blob_key IN (SELECT value FROM json_each(:blob_keys));

-- name: list_live_blob_keys(blob_keys)
-- Which of these file keys an index row references now (not released: ref_count above 0); the
-- S3 read cache keeps copies of these only (services/blob_cache.py).
SELECT blob_key FROM blobs
 WHERE blob_key IN (SELECT value FROM json_each(:blob_keys)) AND ref_count > 0;

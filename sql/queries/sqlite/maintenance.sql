-- Maintenance (services/maintenance.py): the blob sweep's reference check.

-- name: list_referenced_blob_keys(blob_keys)
-- Which of these file keys (a JSON array: Engine.list_parameter) a blobs row references.
SELECT blob_key FROM blobs WHERE blob_key IN (SELECT value FROM json_each(:blob_keys));

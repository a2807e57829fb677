-- Bulk update (issue #19, reference-2.md §2). An updated instance keeps its original version:
-- original_watermark (set at store) names its original metadata, original_blob_key and
-- original_blob_size its original file. NULL: never updated, the current file is the original.
-- Each of the two files holds one reference (blobs.ref_count) while the instance exists.
ALTER TABLE instances ADD COLUMN original_blob_key VARCHAR(64);
ALTER TABLE instances ADD COLUMN original_blob_size BIGINT;

-- One active update operation for the whole server (reference-2.md §2.5): a second insert
-- fails on this index even when two requests race past the check.
CREATE UNIQUE INDEX ux_operations_active_update ON operations (operation_type)
 WHERE operation_type = 'update' AND status IN ('notStarted', 'running');

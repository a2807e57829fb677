-- Partition statistics count the original file of an updated instance too (issue #20 with
-- bulk update, issue #19; decisions: "An updated instance's original file counts"). 0080
-- counted only the current file (blob_key), so after a bulk update the original
-- (original_blob_key, schema 0090) was missing from stored_bytes and disk_bytes. From now on,
-- over the rows of instance_files (every file an instance holds):
--   stored_bytes: the sum of the sizes of the partition's rows;
--   disk_bytes: the sizes of the distinct files among them.
-- The triggers of 0151 keep them; this file recounts the rows already there.

-- The triggers ask "does any instance of the partition reference this file as its original?"
-- Only updated instances have an original, so the index holds only them.
CREATE INDEX ix_instances_original_blob ON instances (original_blob_key)
 WHERE original_blob_key IS NOT NULL;

-- Every file an instance holds: its current file and, once updated, its original. A condition
-- on blob_key and partition_key reaches both parts (ix_instances_blob,
-- ix_instances_original_blob).
CREATE VIEW instance_files AS
SELECT partition_key, instance_key, blob_key, blob_size FROM instances
UNION ALL
SELECT partition_key, instance_key, original_blob_key, original_blob_size FROM instances
 WHERE original_blob_key IS NOT NULL;

-- The recount goes to slot 0, the other slots lose their bytes. The counts of rows stay as they
-- are: they were exact, and a recount must not lower lastStoredTime.
UPDATE partition_statistics SET stored_bytes = 0, disk_bytes = 0 WHERE slot <> 0;

INSERT INTO partition_statistics (partition_key, slot, stored_bytes, disk_bytes)
SELECT p.partition_key, 0,
       (SELECT COALESCE(sum(f.blob_size), 0) FROM instance_files f
         WHERE f.partition_key = p.partition_key),
       (SELECT COALESCE(sum(d.size), 0)
          FROM (SELECT max(f.blob_size) AS size FROM instance_files f
                 WHERE f.partition_key = p.partition_key GROUP BY f.blob_key) d)
  FROM partitions p
 WHERE true  -- (SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT)
ON CONFLICT (partition_key, slot) DO UPDATE SET
    stored_bytes = excluded.stored_bytes,
    disk_bytes = excluded.disk_bytes;

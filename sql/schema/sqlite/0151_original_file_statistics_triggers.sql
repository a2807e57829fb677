-- The instance triggers of 0080, counting every file an instance holds (instance_files, 0150:
-- its current file and, once a bulk update replaced it, its original). Same rules as
-- sql/schema/postgresql/0151_original_file_statistics_triggers.sql. Row-level AFTER triggers:
-- SQLite runs each row's trigger before it changes the next row, so "another instance of the
-- partition holds this file" is seen row by row (the changed row itself is excluded by its
-- key).
DROP TRIGGER instances_added;
DROP TRIGGER instances_removed;
DROP TRIGGER instance_file_changed;

-- The store path: the original's lookup is skipped when there is none, as for every STOW.
CREATE TRIGGER instances_added AFTER INSERT ON instances
BEGIN
    INSERT INTO partition_statistics (partition_key, slot, instances, stored_bytes, disk_bytes,
                                      last_stored_date)
    VALUES (NEW.partition_key, 0, 1, NEW.blob_size + COALESCE(NEW.original_blob_size, 0),
            CASE WHEN EXISTS (SELECT 1 FROM instance_files f
                               WHERE f.blob_key = NEW.blob_key
                                 AND f.partition_key = NEW.partition_key
                                 AND f.instance_key <> NEW.instance_key)
                 THEN 0 ELSE NEW.blob_size END
          + CASE WHEN NEW.original_blob_key IS NULL
                   OR NEW.original_blob_key = NEW.blob_key
                   OR EXISTS (SELECT 1 FROM instance_files f
                               WHERE f.blob_key = NEW.original_blob_key
                                 AND f.partition_key = NEW.partition_key
                                 AND f.instance_key <> NEW.instance_key)
                 THEN 0 ELSE NEW.original_blob_size END,
            NEW.created_date)
    ON CONFLICT (partition_key, slot) DO UPDATE SET
        instances = instances + excluded.instances,
        stored_bytes = stored_bytes + excluded.stored_bytes,
        disk_bytes = disk_bytes + excluded.disk_bytes,
        last_stored_date = max(COALESCE(last_stored_date, ''), excluded.last_stored_date);
END;

-- Both files leave stored_bytes; each leaves disk_bytes with the partition's last reference.
CREATE TRIGGER instances_removed AFTER DELETE ON instances
BEGIN
    UPDATE partition_statistics
       SET instances = instances - 1,
           stored_bytes = stored_bytes - OLD.blob_size - COALESCE(OLD.original_blob_size, 0),
           disk_bytes = disk_bytes
               - CASE WHEN EXISTS (SELECT 1 FROM instance_files f
                                    WHERE f.blob_key = OLD.blob_key
                                      AND f.partition_key = OLD.partition_key)
                      THEN 0 ELSE OLD.blob_size END
               - CASE WHEN OLD.original_blob_key IS NULL
                        OR OLD.original_blob_key = OLD.blob_key
                        OR EXISTS (SELECT 1 FROM instance_files f
                                    WHERE f.blob_key = OLD.original_blob_key
                                      AND f.partition_key = OLD.partition_key)
                      THEN 0 ELSE OLD.original_blob_size END
     WHERE partition_key = OLD.partition_key AND slot = 0;
END;

-- A bulk update. Each of the row's files before and after (at most two keys each side): a key
-- among the new files and not the old ones joins disk_bytes unless another instance of the
-- partition holds it; a key among the old files and not the new ones leaves it unless another
-- instance holds it (a file's key names its bytes, so one key has one size).
CREATE TRIGGER instance_files_changed
    AFTER UPDATE OF blob_key, blob_size, original_blob_key, original_blob_size ON instances
    WHEN OLD.blob_key IS NOT NEW.blob_key OR OLD.blob_size IS NOT NEW.blob_size
      OR OLD.original_blob_key IS NOT NEW.original_blob_key
      OR OLD.original_blob_size IS NOT NEW.original_blob_size
BEGIN
    UPDATE partition_statistics
       SET stored_bytes = stored_bytes + NEW.blob_size + COALESCE(NEW.original_blob_size, 0)
                          - OLD.blob_size - COALESCE(OLD.original_blob_size, 0),
           disk_bytes = disk_bytes + COALESCE((
               SELECT sum(c.sign * c.size)
                 FROM (SELECT NEW.blob_key AS blob_key, NEW.blob_size AS size, 1 AS sign,
                              OLD.blob_key AS side_a, OLD.original_blob_key AS side_b
                       UNION ALL
                       SELECT NEW.original_blob_key, NEW.original_blob_size, 1,
                              OLD.blob_key, OLD.original_blob_key
                        WHERE NEW.original_blob_key IS NOT NEW.blob_key
                       UNION ALL
                       SELECT OLD.blob_key, OLD.blob_size, -1,
                              NEW.blob_key, NEW.original_blob_key
                       UNION ALL
                       SELECT OLD.original_blob_key, OLD.original_blob_size, -1,
                              NEW.blob_key, NEW.original_blob_key
                        WHERE OLD.original_blob_key IS NOT OLD.blob_key) c
                WHERE c.blob_key IS NOT NULL
                  AND c.blob_key IS NOT c.side_a AND c.blob_key IS NOT c.side_b
                  AND NOT EXISTS (SELECT 1 FROM instance_files f
                                   WHERE f.blob_key = c.blob_key
                                     AND f.partition_key = NEW.partition_key
                                     AND f.instance_key <> NEW.instance_key)), 0)
     WHERE partition_key = NEW.partition_key AND slot = 0;
END;

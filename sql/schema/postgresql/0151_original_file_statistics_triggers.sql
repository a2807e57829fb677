-- The instance triggers of 0080, counting every file an instance holds (instance_files, 0150:
-- its current file and, once a bulk update replaced it, its original). A file counts in
-- disk_bytes while at least one instance of the partition references it through either column.

-- Whether an instance of the partition other than p_instance_key (NULL: any) holds the file.
CREATE FUNCTION partition_references_file(p_partition_key BIGINT, p_blob_key VARCHAR,
                                          p_instance_key BIGINT) RETURNS boolean
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM instance_files f
                    WHERE f.blob_key = p_blob_key AND f.partition_key = p_partition_key
                      AND f.instance_key IS DISTINCT FROM p_instance_key);
END $$;

-- A stored instance (the store path, once per instance: its file's lookup is inline, and the
-- original's is skipped when there is none, as for every STOW). Still a BEFORE trigger, for
-- the reasons 0080 gives.
CREATE OR REPLACE FUNCTION count_instance_added() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO partition_statistics AS s (partition_key, slot, instances, stored_bytes,
                                           disk_bytes, last_stored_date)
    VALUES (NEW.partition_key, CAST(txid_current() % 16 AS smallint), 1,
            NEW.blob_size + COALESCE(NEW.original_blob_size, 0),
            CASE WHEN EXISTS (SELECT 1 FROM instance_files f
                               WHERE f.blob_key = NEW.blob_key
                                 AND f.partition_key = NEW.partition_key)
                 THEN 0 ELSE NEW.blob_size END
          + CASE WHEN NEW.original_blob_key IS NULL
                   OR NEW.original_blob_key = NEW.blob_key
                   OR partition_references_file(NEW.partition_key, NEW.original_blob_key, NULL)
                 THEN 0 ELSE NEW.original_blob_size END,
            NEW.created_date)
    ON CONFLICT (partition_key, slot) DO UPDATE SET
        instances = s.instances + 1,
        stored_bytes = s.stored_bytes + excluded.stored_bytes,
        disk_bytes = s.disk_bytes + excluded.disk_bytes,
        last_stored_date = GREATEST(s.last_stored_date, excluded.last_stored_date);
    RETURN NEW;
END $$;

-- Removed instances (statement level, as in 0080): both files of each leave stored_bytes; a
-- file leaves disk_bytes when the statement removed the partition's last reference to it.
CREATE OR REPLACE FUNCTION count_instances_removed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    PERFORM add_partition_statistics(
                o.partition_key, 0, 0, -count(*),
                -sum(o.blob_size + COALESCE(o.original_blob_size, 0)),
                -COALESCE((SELECT sum(d.size) FROM (
                    SELECT r.blob_key, max(r.size) AS size
                      FROM (SELECT a.blob_key, a.blob_size AS size FROM old_rows a
                             WHERE a.partition_key = o.partition_key
                            UNION ALL
                            SELECT a.original_blob_key, a.original_blob_size FROM old_rows a
                             WHERE a.partition_key = o.partition_key
                               AND a.original_blob_key IS NOT NULL) r
                     GROUP BY r.blob_key) d
                  WHERE NOT partition_references_file(o.partition_key, d.blob_key, NULL)), 0),
                NULL)
       FROM old_rows o GROUP BY o.partition_key;
    RETURN NULL;
END $$;

-- The change of one of the row's files, as a disk_bytes delta: a key among its new files and
-- not its old ones joins unless another instance of the partition holds it; a key among its
-- old files and not its new ones leaves unless another instance holds it (a file's key names
-- its bytes, so one key has one size).
CREATE FUNCTION file_disk_delta(p_partition_key BIGINT, p_instance_key BIGINT,
                                p_blob_key VARCHAR, p_blob_size BIGINT, p_other_side_a VARCHAR,
                                p_other_side_b VARCHAR, p_sign INTEGER) RETURNS BIGINT
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF p_blob_key IS NULL OR p_blob_key IS NOT DISTINCT FROM p_other_side_a
       OR p_blob_key IS NOT DISTINCT FROM p_other_side_b
       OR partition_references_file(p_partition_key, p_blob_key, p_instance_key) THEN
        RETURN 0;
    END IF;
    RETURN p_sign * p_blob_size;
END $$;

-- An instance whose files change (a bulk update: a new current file; the first time the
-- stored one becomes the original). A BEFORE trigger, so that it sees the rows its statement
-- updated before this one with their new files and the others (this one included, excluded by
-- its key) with their old ones: a multi-row update counts each file once, as the insert
-- trigger does.
CREATE FUNCTION count_instance_files_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM add_partition_statistics(
        NEW.partition_key, 0, 0, 0,
        NEW.blob_size + COALESCE(NEW.original_blob_size, 0)
            - OLD.blob_size - COALESCE(OLD.original_blob_size, 0),
        file_disk_delta(NEW.partition_key, NEW.instance_key, NEW.blob_key, NEW.blob_size,
                        OLD.blob_key, OLD.original_blob_key, 1)
      + file_disk_delta(NEW.partition_key, NEW.instance_key,
                        NULLIF(NEW.original_blob_key, NEW.blob_key), NEW.original_blob_size,
                        OLD.blob_key, OLD.original_blob_key, 1)
      + file_disk_delta(OLD.partition_key, OLD.instance_key, OLD.blob_key, OLD.blob_size,
                        NEW.blob_key, NEW.original_blob_key, -1)
      + file_disk_delta(OLD.partition_key, OLD.instance_key,
                        NULLIF(OLD.original_blob_key, OLD.blob_key), OLD.original_blob_size,
                        NEW.blob_key, NEW.original_blob_key, -1),
        NULL);
    RETURN NEW;
END $$;

DROP TRIGGER instance_file_changed ON instances;
DROP FUNCTION count_instance_file_changed();
CREATE TRIGGER instance_files_changed
    BEFORE UPDATE OF blob_key, blob_size, original_blob_key, original_blob_size ON instances
    FOR EACH ROW WHEN (OLD.blob_key IS DISTINCT FROM NEW.blob_key
                       OR OLD.blob_size IS DISTINCT FROM NEW.blob_size
                       OR OLD.original_blob_key IS DISTINCT FROM NEW.original_blob_key
                       OR OLD.original_blob_size IS DISTINCT FROM NEW.original_blob_size)
    EXECUTE FUNCTION count_instance_files_changed();

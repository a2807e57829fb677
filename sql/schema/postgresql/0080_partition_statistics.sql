-- Partition statistics (issue #20): counters kept as the data changes, so GET /partitions/{name}
-- reads a few rows instead of counting a partition (decisions: "Partition statistics").
-- Each partition has up to 16 rows ("slots"); a transaction adds its changes to the slot of its
-- transaction id, so concurrent stores into one partition rarely wait for each other's row
-- lock, and a read sums the slots (bench/RESULTS.md: one row per partition instead halved the
-- rate of concurrent stores). Inserts are counted by row-level triggers that fire only for rows
-- actually inserted (an upsert that updates a study is not counted) and write the upsert
-- inline (cheapest: the store path runs them for every instance); deletes by statement-level
-- triggers, so a study deleted at once is one update per partition.
-- disk_bytes: the bytes of the distinct files the partition's instances reference (a file two
-- instances of the partition share counts once; a file shared with another partition counts in
-- both). last_stored_date: the newest instance's creation time (not lowered by deletes).
CREATE TABLE partition_statistics (
    partition_key BIGINT NOT NULL,
    slot SMALLINT NOT NULL,
    studies BIGINT NOT NULL DEFAULT 0,
    series BIGINT NOT NULL DEFAULT 0,
    instances BIGINT NOT NULL DEFAULT 0,
    stored_bytes BIGINT NOT NULL DEFAULT 0,
    disk_bytes BIGINT NOT NULL DEFAULT 0,
    last_stored_date TIMESTAMPTZ,
    PRIMARY KEY (partition_key, slot)
);

INSERT INTO partition_statistics (partition_key, slot, studies, series, instances, stored_bytes,
                                  disk_bytes, last_stored_date)
SELECT p.partition_key, 0,
       (SELECT count(*) FROM studies s WHERE s.partition_key = p.partition_key),
       (SELECT count(*) FROM series s WHERE s.partition_key = p.partition_key),
       (SELECT count(*) FROM instances i WHERE i.partition_key = p.partition_key),
       (SELECT COALESCE(sum(i.blob_size), 0) FROM instances i
         WHERE i.partition_key = p.partition_key),
       (SELECT COALESCE(sum(f.size), 0)
          FROM (SELECT max(i.blob_size) AS size FROM instances i
                 WHERE i.partition_key = p.partition_key GROUP BY i.blob_key) f),
       (SELECT max(i.created_date) FROM instances i WHERE i.partition_key = p.partition_key)
  FROM partitions p;

-- Add one change to the statistics of a partition, in the calling transaction's slot (for the
-- delete triggers; PL/pgSQL prepares its plan once per session, a SQL function at every call).
-- (Counts are NUMERIC so the triggers' sums pass without casts; the columns are BIGINT.)
CREATE FUNCTION add_partition_statistics(p_partition_key BIGINT, p_studies NUMERIC,
                                         p_series NUMERIC, p_instances NUMERIC,
                                         p_stored_bytes NUMERIC, p_disk_bytes NUMERIC,
                                         p_last_stored_date TIMESTAMPTZ) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partition_statistics AS s (partition_key, slot, studies, series, instances,
                                           stored_bytes, disk_bytes, last_stored_date)
    VALUES (p_partition_key, CAST(txid_current() % 16 AS smallint), p_studies, p_series,
            p_instances, p_stored_bytes, p_disk_bytes, p_last_stored_date)
    ON CONFLICT (partition_key, slot) DO UPDATE SET
        studies = s.studies + excluded.studies,
        series = s.series + excluded.series,
        instances = s.instances + excluded.instances,
        stored_bytes = s.stored_bytes + excluded.stored_bytes,
        disk_bytes = s.disk_bytes + excluded.disk_bytes,
        last_stored_date = GREATEST(s.last_stored_date, excluded.last_stored_date);
END $$;

CREATE FUNCTION count_study_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partition_statistics AS s (partition_key, slot, studies)
    VALUES (NEW.partition_key, CAST(txid_current() % 16 AS smallint), 1)
    ON CONFLICT (partition_key, slot) DO UPDATE SET studies = s.studies + 1;
    RETURN NULL;
END $$;

CREATE FUNCTION count_studies_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM add_partition_statistics(partition_key, -count(*), 0, 0, 0, 0, NULL)
       FROM old_rows GROUP BY partition_key;
    RETURN NULL;
END $$;

CREATE FUNCTION count_series_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partition_statistics AS s (partition_key, slot, series)
    VALUES (NEW.partition_key, CAST(txid_current() % 16 AS smallint), 1)
    ON CONFLICT (partition_key, slot) DO UPDATE SET series = s.series + 1;
    RETURN NULL;
END $$;

CREATE FUNCTION count_series_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM add_partition_statistics(partition_key, 0, -count(*), 0, 0, 0, NULL)
       FROM old_rows GROUP BY partition_key;
    RETURN NULL;
END $$;

-- The instance triggers look files up by ix_instances_blob; enable_seqscan is off inside them
-- so that a plan made while the table looked small (a fresh database, or one long transaction
-- filling it) never scans the table for every row inserted.
-- A file counts in disk_bytes when this instance is the partition's first reference to it. A
-- BEFORE trigger: it sees the rows its statement inserted before this one (not this one), so
-- a multi-row insert counts a shared file once. Two transactions cannot both add the first
-- reference to a file in one partition: the same bytes carry the same UIDs, and the unique key
-- rejects the second instance (its transaction, with its count, rolls back).
CREATE FUNCTION count_instance_added() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO partition_statistics AS s (partition_key, slot, instances, stored_bytes,
                                           disk_bytes, last_stored_date)
    VALUES (NEW.partition_key, CAST(txid_current() % 16 AS smallint), 1, NEW.blob_size,
            CASE WHEN EXISTS (SELECT 1 FROM instances i
                               WHERE i.blob_key = NEW.blob_key
                                 AND i.partition_key = NEW.partition_key)
                 THEN 0 ELSE NEW.blob_size END,
            NEW.created_date)
    ON CONFLICT (partition_key, slot) DO UPDATE SET
        instances = s.instances + 1,
        stored_bytes = s.stored_bytes + excluded.stored_bytes,
        disk_bytes = s.disk_bytes + excluded.disk_bytes,
        last_stored_date = GREATEST(s.last_stored_date, excluded.last_stored_date);
    RETURN NEW;
END $$;

-- A file leaves disk_bytes when the statement removed the partition's last reference to it
-- (concurrent deletes of one file are serialized by its blobs row lock).
CREATE FUNCTION count_instances_removed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    PERFORM add_partition_statistics(
                o.partition_key, 0, 0, -count(*), -sum(o.blob_size),
                -COALESCE((SELECT sum(f.size) FROM (
                    SELECT a.blob_key, max(a.blob_size) AS size
                      FROM old_rows a WHERE a.partition_key = o.partition_key
                     GROUP BY a.blob_key) f
                  WHERE NOT EXISTS (SELECT 1 FROM instances i
                                     WHERE i.blob_key = f.blob_key
                                       AND i.partition_key = o.partition_key)), 0),
                NULL)
       FROM old_rows o GROUP BY o.partition_key;
    RETURN NULL;
END $$;

-- An instance whose file changes (an update writing a new version): the old file's bytes out,
-- the new file's in.
CREATE FUNCTION count_instance_file_changed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    PERFORM add_partition_statistics(
                OLD.partition_key, 0, 0, 0, NEW.blob_size - OLD.blob_size,
                (CASE WHEN EXISTS (SELECT 1 FROM instances i
                                    WHERE i.blob_key = NEW.blob_key
                                      AND i.partition_key = NEW.partition_key
                                      AND i.instance_key <> NEW.instance_key)
                      THEN 0 ELSE NEW.blob_size END)
              - (CASE WHEN EXISTS (SELECT 1 FROM instances i
                                    WHERE i.blob_key = OLD.blob_key
                                      AND i.partition_key = OLD.partition_key)
                      THEN 0 ELSE OLD.blob_size END),
                NULL);
    RETURN NULL;
END $$;

CREATE TRIGGER study_added AFTER INSERT ON studies
    FOR EACH ROW EXECUTE FUNCTION count_study_added();
CREATE TRIGGER studies_removed AFTER DELETE ON studies REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_studies_removed();
CREATE TRIGGER series_added AFTER INSERT ON series
    FOR EACH ROW EXECUTE FUNCTION count_series_added();
CREATE TRIGGER series_removed AFTER DELETE ON series REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_series_removed();
CREATE TRIGGER instance_added BEFORE INSERT ON instances
    FOR EACH ROW EXECUTE FUNCTION count_instance_added();
CREATE TRIGGER instances_removed AFTER DELETE ON instances REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_instances_removed();
CREATE TRIGGER instance_file_changed AFTER UPDATE OF blob_key, blob_size ON instances
    FOR EACH ROW WHEN (OLD.blob_key IS DISTINCT FROM NEW.blob_key
                       OR OLD.blob_size IS DISTINCT FROM NEW.blob_size)
    EXECUTE FUNCTION count_instance_file_changed();

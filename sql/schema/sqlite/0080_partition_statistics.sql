-- Partition statistics (issue #20): counters kept as the data changes, so GET /partitions/{name}
-- reads a row instead of counting a partition (decisions: "Partition statistics"). Same table
-- as sql/schema/postgresql/0080_partition_statistics.sql; SQLite serializes write
-- transactions, so every change goes to slot 0. Row-level triggers: SQLite runs each row's
-- AFTER trigger before it deletes the next row, so "the partition's last reference to a file"
-- is seen row by row.
CREATE TABLE partition_statistics (
    partition_key BIGINT NOT NULL,
    slot SMALLINT NOT NULL,
    studies BIGINT NOT NULL DEFAULT 0,
    series BIGINT NOT NULL DEFAULT 0,
    instances BIGINT NOT NULL DEFAULT 0,
    stored_bytes BIGINT NOT NULL DEFAULT 0,
    disk_bytes BIGINT NOT NULL DEFAULT 0,
    last_stored_date TEXT,
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

CREATE TRIGGER studies_added AFTER INSERT ON studies
BEGIN
    INSERT INTO partition_statistics (partition_key, slot, studies) VALUES (NEW.partition_key, 0, 1)
    ON CONFLICT (partition_key, slot) DO UPDATE SET studies = studies + 1;
END;

CREATE TRIGGER studies_removed AFTER DELETE ON studies
BEGIN
    UPDATE partition_statistics SET studies = studies - 1
     WHERE partition_key = OLD.partition_key AND slot = 0;
END;

CREATE TRIGGER series_added AFTER INSERT ON series
BEGIN
    INSERT INTO partition_statistics (partition_key, slot, series) VALUES (NEW.partition_key, 0, 1)
    ON CONFLICT (partition_key, slot) DO UPDATE SET series = series + 1;
END;

CREATE TRIGGER series_removed AFTER DELETE ON series
BEGIN
    UPDATE partition_statistics SET series = series - 1
     WHERE partition_key = OLD.partition_key AND slot = 0;
END;

CREATE TRIGGER instances_added AFTER INSERT ON instances
BEGIN
    INSERT INTO partition_statistics (partition_key, slot, instances, stored_bytes, disk_bytes,
                                      last_stored_date)
    VALUES (NEW.partition_key, 0, 1, NEW.blob_size,
            CASE WHEN EXISTS (SELECT 1 FROM instances i
                               WHERE i.blob_key = NEW.blob_key
                                 AND i.partition_key = NEW.partition_key
                                 AND i.instance_key <> NEW.instance_key)
                 THEN 0 ELSE NEW.blob_size END,
            NEW.created_date)
    ON CONFLICT (partition_key, slot) DO UPDATE SET
        instances = instances + excluded.instances,
        stored_bytes = stored_bytes + excluded.stored_bytes,
        disk_bytes = disk_bytes + excluded.disk_bytes,
        last_stored_date = max(COALESCE(last_stored_date, ''), excluded.last_stored_date);
END;

CREATE TRIGGER instances_removed AFTER DELETE ON instances
BEGIN
    UPDATE partition_statistics
       SET instances = instances - 1,
           stored_bytes = stored_bytes - OLD.blob_size,
           disk_bytes = disk_bytes - CASE WHEN EXISTS (SELECT 1 FROM instances i
                                                        WHERE i.blob_key = OLD.blob_key
                                                          AND i.partition_key = OLD.partition_key)
                                          THEN 0 ELSE OLD.blob_size END
     WHERE partition_key = OLD.partition_key AND slot = 0;
END;

CREATE TRIGGER instance_file_changed AFTER UPDATE OF blob_key, blob_size ON instances
    WHEN OLD.blob_key IS NOT NEW.blob_key OR OLD.blob_size IS NOT NEW.blob_size
BEGIN
    UPDATE partition_statistics
       SET stored_bytes = stored_bytes + NEW.blob_size - OLD.blob_size,
           disk_bytes = disk_bytes
               + CASE WHEN EXISTS (SELECT 1 FROM instances i
                                    WHERE i.blob_key = NEW.blob_key
                                      AND i.partition_key = NEW.partition_key
                                      AND i.instance_key <> NEW.instance_key)
                      THEN 0 ELSE NEW.blob_size END
               - CASE WHEN EXISTS (SELECT 1 FROM instances i
                                    WHERE i.blob_key = OLD.blob_key
                                      AND i.partition_key = OLD.partition_key)
                      THEN 0 ELSE OLD.blob_size END
     WHERE partition_key = OLD.partition_key AND slot = 0;
END;

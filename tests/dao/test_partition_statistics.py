"""The partition statistics triggers (sql/schema/*/0080 and 0151) under statements the API
never sends: multi-row updates of the files of instances sharing files within a partition
(the bulk update changes one row per statement; tests/api/test_partition_statistics_updates.py
covers it through the API). After every statement the counters equal a recount of
instance_files (schema 0150), the definition of bytesStored and bytesOnDisk."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.db import Database

PARTITIONS = (1, 2)
A, B, C, D, E = (letter * 64 for letter in "ABCDE")
#: Each partition: three instances, two sharing file A.
STORED = [(A, 10), (A, 10), (C, 7)]
RECOUNT = """
SELECT p.partition_key,
       (SELECT COALESCE(sum(f.blob_size), 0) FROM instance_files f
         WHERE f.partition_key = p.partition_key) AS stored,
       (SELECT COALESCE(sum(d.size), 0)
          FROM (SELECT max(f.blob_size) AS size FROM instance_files f
                 WHERE f.partition_key = p.partition_key GROUP BY f.blob_key) d) AS disk,
       (SELECT COALESCE(sum(s.stored_bytes), 0) FROM partition_statistics s
         WHERE s.partition_key = p.partition_key) AS counted_stored,
       (SELECT COALESCE(sum(s.disk_bytes), 0) FROM partition_statistics s
         WHERE s.partition_key = p.partition_key) AS counted_disk
  FROM partitions p ORDER BY p.partition_key"""
STATEMENTS = [
    # A bulk update of every instance at once: the stored files become originals.
    f"UPDATE instances SET original_blob_key = blob_key, original_blob_size = blob_size,"
    f" blob_key = '{B}', blob_size = 5",
    # Back to the stored bytes: current and original are one file.
    "UPDATE instances SET blob_key = original_blob_key, blob_size = original_blob_size",
    f"UPDATE instances SET blob_key = '{D}', blob_size = 3 WHERE blob_key = '{A}'",
    # Two files swapping places between rows of one statement.
    f"UPDATE instances SET blob_key = CASE WHEN blob_key = '{D}' THEN '{E}' ELSE '{D}' END,"
    f" blob_size = CASE WHEN blob_key = '{D}' THEN 2 ELSE 3 END",
    f"UPDATE instances SET original_blob_key = NULL, original_blob_size = NULL"
    f" WHERE blob_key = '{E}'",
    f"DELETE FROM instances WHERE blob_key = '{D}' AND partition_key = 2",
    "DELETE FROM instances",
]


def _counts(conn) -> list[tuple[int, int, int, int, int]]:
    return [(int(r["partition_key"]), int(r["stored"]), int(r["disk"]),
             int(r["counted_stored"]), int(r["counted_disk"]))
            for r in conn.fetchall(RECOUNT)]


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    now = datetime.now(timezone.utc)
    with database.connection() as conn, conn.transaction():
        conn.execute("INSERT INTO partitions (partition_key, partition_name, created_date)"
                     " VALUES (2, 'Site2', ?)", [now])
        for partition in PARTITIONS:
            conn.execute("INSERT INTO studies (study_key, partition_key, study_instance_uid,"
                         " created_date) VALUES (?, ?, '1.2', ?)", [partition, partition, now])
            conn.execute("INSERT INTO series (series_key, study_key, partition_key,"
                         " series_instance_uid, created_date) VALUES (?, ?, ?, '1.2.1', ?)",
                         [partition, partition, partition, now])
            for number, (key, size) in enumerate(STORED):
                watermark = partition * 10 + number
                conn.execute(
                    "INSERT INTO instances (partition_key, study_key, series_key,"
                    " study_instance_uid, series_instance_uid, sop_instance_uid, watermark,"
                    " original_watermark, status, blob_key, blob_size, created_date,"
                    " last_status_updated_date) VALUES (?, ?, ?, '1.2', '1.2.1', ?, ?, ?, 1,"
                    " ?, ?, ?, ?)",
                    [partition, partition, partition, f"1.2.1.{number}", watermark, watermark,
                     key, size, now, now])
    yield database
    database.close()


def test_counters_equal_a_recount_after_multi_row_updates_and_deletes(database):
    with database.connection() as conn:
        assert [c[1:] for c in _counts(conn)] == [(27, 17, 27, 17)] * 2
        for statement in STATEMENTS:
            with conn.transaction():
                assert conn.execute(statement) > 0, statement
            for partition, stored, disk, counted_stored, counted_disk in _counts(conn):
                assert (counted_stored, counted_disk) == (stored, disk), (statement, partition)
        assert [c[1:] for c in _counts(conn)] == [(0, 0, 0, 0)] * 2

"""QIDO string matching stays an index lookup on both databases (issue #21 item 6): the search
SELECT of app/dao/query.build_search for a PatientName (exact and prefix wildcard), a PatientID
and a PN extended query tag uses the folded columns' indexes. bench/RESULTS.md has the plans at
1,000,000 instances."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import unquote

import pytest

from app.dao import query as query_dao
from app.db import Database
from app.dicomweb.collation import fold_name, fold_text
from app.dicomweb.query_params import RESOURCES, parse_query

STUDIES = 2000
PARTITIONS = 3
CASES = [
    ("PatientName=Núñez%5EAna9", "ix_studies_patient_name_folded"),
    ("PatientName=NU%C3%91EZ%5EANA123*", "ix_studies_patient_name_folded"),
    ("PatientID=pid-42", "ix_studies_patient_id_folded"),
    ("PatientID=pid-123*", "ix_studies_patient_id_folded"),
    ("PerformingPhysicianName=g%C3%B3mez%5E12", "ix_eqt_person_name_folded"),
]


@pytest.fixture
def database(database_url, backend):
    database = Database(database_url)
    now = datetime.now(timezone.utc)
    with database.connection() as conn, conn.transaction():
        for partition in range(2, PARTITIONS + 1):
            conn.execute("INSERT INTO partitions (partition_key, partition_name, created_date)"
                         " VALUES (?, ?, ?)", [partition, f"Site{partition}", now])
        conn.execute("INSERT INTO extended_query_tags (tag_key, tag_path, tag_vr, tag_level,"
                     " tag_status, query_status, created_time) VALUES (1, '00081050', 'PN', 2,"
                     " 1, 1, ?)", [now])
        for n in range(STUDIES):
            partition = n % PARTITIONS + 1
            name, pid = f"Núñez^Ana{n}", f"PID-{n}"
            conn.execute(
                "INSERT INTO studies (study_key, partition_key, study_instance_uid, patient_id,"
                " patient_id_folded, patient_name, patient_name_folded, created_date)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [n + 1, partition, f"1.2.{n}", pid, fold_text(pid), name, fold_name(name), now])
            conn.execute("INSERT INTO series (series_key, study_key, partition_key,"
                         " series_instance_uid, created_date) VALUES (?, ?, ?, ?, ?)",
                         [n + 1, n + 1, partition, f"1.2.{n}.1", now])
            conn.execute(
                "INSERT INTO instances (partition_key, study_key, series_key, study_instance_uid,"
                " series_instance_uid, sop_instance_uid, watermark, status, blob_key, blob_size,"
                " created_date, last_status_updated_date)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, 'b', 1, ?, ?)",
                [partition, n + 1, n + 1, f"1.2.{n}", f"1.2.{n}.1", f"1.2.{n}.1.1", n + 1, now,
                 now])
            conn.execute(
                "INSERT INTO extended_query_tag_person_name (tag_key, partition_key, study_key,"
                " watermark, tag_value, tag_value_folded) VALUES (1, ?, ?, ?, ?, ?)",
                [partition, n + 1, n + 1, f"Gómez^{n}", fold_name(f"Gómez^{n}")])
    with database.connection() as conn, conn.transaction():
        conn.execute("ANALYZE")  # kept only if it commits (PostgreSQL)
    yield database
    database.close()


def _plan(conn, backend: str, query: str) -> str:
    params = parse_query([tuple(pair.split("=")) for pair in query.split("&")],
                         RESOURCES["studies"], lambda: query_dao.list_extended_query_tags(conn))
    sql, values = query_dao.build_search(conn, [1], params, query_dao.PathUids())
    if backend == "sqlite":
        rows = conn.fetchall("EXPLAIN QUERY PLAN " + sql, values)
        return "\n".join(row["detail"] for row in rows)
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a small table, planned as a large one
        rows = conn.fetchall("EXPLAIN (COSTS OFF) " + sql, values)
    return "\n".join(list(row.values())[0] for row in rows)


def test_qido_string_matching_uses_the_folded_indexes(database, backend):
    with database.connection() as conn:
        for query, index in CASES:
            plan = _plan(conn, backend, unquote(query))
            assert index in plan, (query, plan)

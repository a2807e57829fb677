"""The server survives PostgreSQL ending its idle pooled sessions (a restart or failover,
pg_terminate_backend, an idle-session timeout): the next requests get new connections."""
from __future__ import annotations

import time

import psycopg2
import pytest

from tests.api.helpers import DICOM_JSON, store
from tests.dicom_factory import make_dataset


def _end_other_sessions(database_url: str) -> int:
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ended = cur.rowcount
            for _ in range(50):  # until the sessions are gone (their FATAL has been sent)
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid()")
                if cur.fetchone()[0] == 0:
                    break
                time.sleep(0.05)
        return ended
    finally:
        conn.close()


def test_requests_after_the_database_ended_idle_sessions(make_app, partition_mode, backend,
                                                          base, database_url):
    if backend != "postgresql":
        pytest.skip("PostgreSQL sessions")
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned")
    client = app.test_client()
    first, second = make_dataset(), make_dataset()
    assert store(client, base, first).status_code == 200
    assert _end_other_sessions(database_url) >= 1  # the pool's idle connection(s)

    response = client.get(f"{base}/studies", query_string={"StudyInstanceUID":
                                                           first.StudyInstanceUID},
                          headers={"Accept": DICOM_JSON})
    assert response.status_code == 200 and len(response.get_json()) == 1
    _end_other_sessions(database_url)
    assert store(client, base, second).status_code == 200
    _end_other_sessions(database_url)
    response = client.get(f"{base}/studies/{second.StudyInstanceUID}/metadata",
                          headers={"Accept": DICOM_JSON})
    assert response.status_code == 200

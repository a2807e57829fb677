"""The server survives PostgreSQL ending its idle pooled sessions (a restart or failover,
pg_terminate_backend, an idle-session timeout): the next requests get new connections; and it
connects through the Unix-domain socket a database URL names."""
from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import psycopg2
import pytest

from tests.api.helpers import DICOM_JSON, store
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import make_dataset, to_bytes


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


def _unix_socket_url(database_url: str) -> str | None:
    """The same database through the server's Unix-domain socket (its first socket directory,
    percent-encoded as the URL's host), or None when it listens on none."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW unix_socket_directories")
            directories = [d.strip() for d in cur.fetchone()[0].split(",") if d.strip()]
    finally:
        conn.close()
    if not directories:
        return None
    parts = urlsplit(database_url)
    user = f"{parts.username}@" if parts.username else ""
    return (f"postgresql://{user}{quote(directories[0], safe='')}:{parts.port or 5432}"
            f"{parts.path}")


def test_a_database_url_naming_the_unix_socket(make_app, partition_mode, backend, base,
                                               database_url):
    """docs/operations.md recommends the Unix-domain socket for a co-located PostgreSQL: the
    server stores and retrieves through it (no TCP connection: no client address)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL connections")
    socket_url = _unix_socket_url(database_url)
    if socket_url is None:
        pytest.skip("this PostgreSQL server listens on no Unix-domain socket")
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                   DATABASE_URL=socket_url)
    client = app.test_client()
    dataset = make_dataset()
    assert store(client, base, dataset).status_code == 200
    response = client.get(instance_url(base, dataset),
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200 and response.get_data() == to_bytes(dataset)
    with app.extensions["dicom_db"].connection() as conn:
        row = conn.fetchall("SELECT inet_client_addr() AS address")[0]
    assert row["address"] is None  # a TCP connection would have one

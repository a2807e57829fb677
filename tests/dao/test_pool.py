"""The PostgreSQL connection pool (app/db/engines/postgresql.py): a bounded number of
connections out at once, a waiting caller served by the next one given back, a connection
given back inside a transaction ended before anyone reuses it, and a failed connect giving its
slot back."""
from __future__ import annotations

import socket
import threading

import pytest

from app.db import Database
from app.errors import DataStoreError


@pytest.fixture
def pg_database(pg_test_url):
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    database = Database(pg_test_url, pool_size=1)
    yield database
    database.close()


def _in_thread(target) -> tuple[threading.Thread, list]:
    """Run ``target`` in a thread; the list gets its result or its exception."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_caller_waits_for_a_connection_given_back(pg_database):
    first = pg_database.connect()
    backend = first.fetchall("SELECT pg_backend_pid() AS pid")[0]["pid"]
    thread, outcome = _in_thread(pg_database.connect)
    thread.join(0.5)
    assert thread.is_alive() and not outcome  # the only slot is out: it waits
    pg_database.release(first)
    thread.join(10)
    assert not thread.is_alive()
    second = outcome[0]
    try:
        # The connection given back, reused (no new session).
        assert second.fetchall("SELECT pg_backend_pid() AS pid")[0]["pid"] == backend
    finally:
        pg_database.release(second)


def test_a_connection_given_back_in_a_transaction_is_rolled_back(pg_database):
    conn = pg_database.connect()
    conn.execute("CREATE TABLE IF NOT EXISTS probe_pool (x integer)")
    conn.execute("TRUNCATE probe_pool")
    try:
        conn.raw.autocommit = False  # as a caller that left its transaction open
        conn.execute("INSERT INTO probe_pool VALUES (1)")
        assert conn.raw.info.transaction_status == 2  # in a transaction
        pg_database.release(conn)
        with pg_database.connection() as again:
            assert again.raw is conn.raw
            assert again.raw.info.transaction_status == 0  # idle: ended
            assert again.fetchall("SELECT count(*) AS n FROM probe_pool")[0]["n"] == 0
    finally:
        with pg_database.connection() as cleanup:
            cleanup.raw.autocommit = True
            cleanup.execute("DROP TABLE IF EXISTS probe_pool")


def test_a_failed_connect_gives_its_slot_back():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql://postgres@127.0.0.1:{port}/none", pool_size=1)

    def connect_twice() -> int:
        failures = 0
        for _ in range(2):
            try:
                database.connect()
            except DataStoreError:
                failures += 1
        return failures

    thread, outcome = _in_thread(connect_twice)
    # A slot kept by the first failure would make the second connect wait 30 s for it.
    thread.join(10)
    assert not thread.is_alive()
    assert outcome == [2]

"""Engine helpers that differ by database."""
from __future__ import annotations

import pytest

from app.db.engines import PostgresEngine, SqliteEngine


def test_postgres_binds_a_value_list_as_one_array(pg_test_url):
    """One statement text whatever the list's length (no parameter per value: a QIDO UID list
    of 50,000 values is one parameter)."""
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    engine = PostgresEngine(pg_test_url)
    values = list(range(0, 100_000, 2))
    clause, params = engine.in_list("x", values)
    assert clause == "x = ANY(?)" and params == [values]
    conn = engine.connect()
    try:
        rows = engine.fetchall(conn, f"SELECT count(*) AS n FROM generate_series(1, 100000) AS x "
                                     f"WHERE {clause}", params)
        assert rows[0]["n"] == 49_999
    finally:
        engine.release(conn)
        engine.close()


def test_sqlite_binds_one_parameter_per_value(tmp_path):
    engine = SqliteEngine(str(tmp_path / "db.sqlite3"))
    clause, params = engine.in_list("x", [3, 1])
    assert clause == "x IN (?, ?)" and params == [3, 1]


def test_postgres_begin_travels_with_the_first_statement(pg_test_url):
    """begin_with_next_statement: one round trip for BEGIN and the first statement, the same
    transaction semantics (rollback on error, commit at the end), and the connection back in
    autocommit mode afterwards."""
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    from app.db import Database

    database = Database(pg_test_url)
    try:
        with database.connection() as conn:
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE probe (x integer)")
            with conn.transaction(begin_with_next_statement=True):
                [row] = conn.fetchall("SELECT query FROM pg_stat_activity "
                                      "WHERE pid = pg_backend_pid()")
                assert row["query"].startswith("BEGIN; SELECT query")
                conn.execute("INSERT INTO probe VALUES (1)")
            with pytest.raises(RuntimeError):
                with conn.transaction(begin_with_next_statement=True):
                    conn.execute("INSERT INTO probe VALUES (2)")
                    raise RuntimeError("rolled back")
            with conn.transaction(begin_with_next_statement=True):
                conn.run("get_partition", partition_name="none")  # aiosql: own BEGIN
                conn.execute("INSERT INTO probe VALUES (3)")
            with conn.transaction(begin_with_next_statement=True):
                pass  # nothing sent
            assert conn.raw.autocommit is True
            assert conn.raw.info.transaction_status == 0  # idle
            assert [r["x"] for r in conn.fetchall("SELECT x FROM probe ORDER BY x")] == [1, 3]
    finally:
        database.close()


def test_postgres_reads_outside_a_transaction_begin_none(pg_test_url):
    """A read outside a transaction is one statement in autocommit mode: no BEGIN before it,
    nothing left open after it (no ROLLBACK needed); a transaction still is one (its rows stay
    invisible to other sessions until COMMIT, and are gone after a rollback)."""
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    from app.db import Database

    database = Database(pg_test_url)
    try:
        with database.connection() as conn, database.connection() as other:
            conn.run("get_partition", partition_name="none")
            conn.fetchall("SELECT 1")
            assert conn.raw.info.transaction_status == 0  # idle: nothing begun
            conn.execute("CREATE TABLE IF NOT EXISTS probe_autocommit (x integer)")
            conn.execute("TRUNCATE probe_autocommit")
            with conn.transaction():
                conn.execute("INSERT INTO probe_autocommit VALUES (1)")
                assert conn.raw.info.transaction_status == 2  # in a transaction
                assert other.fetchall("SELECT count(*) AS n FROM probe_autocommit")[0]["n"] == 0
            with pytest.raises(RuntimeError):
                with conn.transaction():
                    conn.execute("INSERT INTO probe_autocommit VALUES (2)")
                    raise RuntimeError("rolled back")
            assert conn.raw.autocommit is True and conn.raw.info.transaction_status == 0
            rows = other.fetchall("SELECT x FROM probe_autocommit ORDER BY x")
            assert [r["x"] for r in rows] == [1]
            conn.execute("DROP TABLE probe_autocommit")
    finally:
        database.close()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("setting,expected", [(None, 2), ("NORMAL", 1), ("full", 2)])
def test_sqlite_commits_are_durable_unless_relaxed(make_app, setting, expected):
    """``PRAGMA synchronous`` FULL (2) by default: WAL mode fsyncs the log at every commit, so
    an acknowledged store survives a power loss; DICOM_SQLITE_SYNCHRONOUS=NORMAL (1) relaxes it
    (issue #15)."""
    app = make_app(**({} if setting is None else {"SQLITE_SYNCHRONOUS": setting}))
    with app.extensions["dicom_db"].connection() as conn:
        assert conn.fetchall("PRAGMA synchronous")[0][0] == expected

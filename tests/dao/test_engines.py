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

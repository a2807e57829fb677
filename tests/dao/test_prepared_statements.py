"""PostgreSQL runs the store path's queries as prepared statements (app/db/engines.py)."""
from __future__ import annotations

import pytest

from app.dao import instances as dao
from app.db import Database
from app.errors import DataStoreError


@pytest.fixture
def database(pg_test_url):
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    database = Database(pg_test_url)
    yield database
    database.close()


def _status(conn, sop: str):
    return dao.get_instance_status(conn, 1, "1.2.3", "1.2.3.4", sop)


def test_prepared_once_per_connection_and_kept_across_rollbacks(database):
    with database.connection() as conn:
        assert _status(conn, "1.2.3.4.5") is None
        conn.raw.rollback()
        assert _status(conn, "1.2.3.4.6") is None
        with conn.raw.cursor() as cur:
            cur.execute("SELECT name FROM pg_prepared_statements")
            assert [row["name"] for row in cur.fetchall()] == ["get_instance_status"]


def test_a_statement_the_session_lost_drops_the_connection(database):
    """A pooler's DEALLOCATE (or a migration elsewhere that changes a result type) fails that
    request with 503; the connection is not reused, the next one prepares anew."""
    with database.connection() as conn:
        assert _status(conn, "1.2.3.4.5") is None
        conn.raw.rollback()
        with conn.raw.cursor() as cur:
            cur.execute("DEALLOCATE ALL")
        conn.raw.commit()
        with pytest.raises(DataStoreError):
            _status(conn, "1.2.3.4.6")
        assert conn.raw.closed
    with database.connection() as conn:
        assert _status(conn, "1.2.3.4.7") is None

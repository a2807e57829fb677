"""Both schemas have the same tables, views and columns; migrations are idempotent (issue #2)."""
from __future__ import annotations

import psycopg2
import pytest

from app.db import Database


def _sqlite_columns(path: str) -> dict[str, set[str]]:
    import sqlite3

    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite_%'")]
    result = {t: {r[1] for r in conn.execute(f"PRAGMA table_info('{t}')")} for t in tables}
    conn.close()
    return result


def test_sqlite_and_postgresql_schemas_match(sqlite_template, pg_test_url):
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    lite = _sqlite_columns(str(sqlite_template))
    conn = psycopg2.connect(pg_test_url)
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public'")
        pg: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            pg.setdefault(table, set()).add(column)
    conn.close()
    lite.pop("watermark_sequence")  # PostgreSQL uses a SEQUENCE instead
    assert lite == pg


def test_migrate_twice_applies_nothing_the_second_time(database_url):
    database = Database(database_url)
    try:
        assert database.migrate() == []
    finally:
        database.close()

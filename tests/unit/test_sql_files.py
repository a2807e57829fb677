"""The SQL files: both dialects load, a dialect's queries exist in both (or are listed), every
query the code calls exists and every query defined is called (by its literal name:
``conn.run("name", ...)``)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.db.migrate import schema_files
from app.db.queries import SQL_ROOT, Queries

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dialect,driver", [("sqlite", "sqlite3"), ("postgresql", "psycopg2")])
def test_queries_load(dialect, driver):
    assert "get_partition" in Queries(dialect, driver).names


#: Queries only one dialect has: each is called only where an engine capability says the
#: database can (app/db/engines/base.py).
DIALECT_ONLY = {
    "postgresql": {"add_instance_rows",  # data_modifying_ctes
                   "reserve_blobs", "reserve_blobs_cursor",  # not serialized_writes
                   # needs_first_analyze
                   "get_store_tables_never_analyzed", "analyze_store_tables"},
    "sqlite": set(),
}


def test_dialect_queries_exist_in_both_dialects():
    names = {}
    for dialect, driver in (("sqlite", "sqlite3"), ("postgresql", "psycopg2")):
        names[dialect] = set(Queries(dialect, driver)._own.available_queries)
    assert names["postgresql"] - names["sqlite"] == DIALECT_ONLY["postgresql"]
    assert names["sqlite"] - names["postgresql"] == DIALECT_ONLY["sqlite"]


def test_no_query_name_is_defined_twice():
    seen: dict[str, Path] = {}
    for path in (SQL_ROOT / "queries").rglob("*.sql"):
        folder = path.parent.name
        for name in re.findall(r"^-- name: ([a-z_0-9]+)", path.read_text(), re.M):
            key = f"{folder}:{name}"
            assert key not in seen, f"{name} defined in {seen.get(key)} and {path}"
            seen[key] = path


#: ``conn.run(`` or ``conn.stream(`` (``DbConn``'s; the code names its connections ``conn``) and
#: what follows it up to the first argument's closing quote, if any.
_RUN_CALL = re.compile(r"\bconn\.(?:run|stream)\(\s*(\"([a-z_0-9]+)\")?")


def _defined_queries() -> set[str]:
    names: set[str] = set()
    for path in (SQL_ROOT / "queries").rglob("*.sql"):
        names |= set(re.findall(r"^-- name: ([a-z_0-9]+)", path.read_text(), re.M))
    return names


def _called_queries() -> set[str]:
    """The names of every ``conn.run("name"`` in app/; fails on one without a literal name,
    so that a query cannot be used without this test seeing it."""
    called: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for match in _RUN_CALL.finditer(path.read_text()):
            assert match.group(2), f"{path}: a query called by a name built at run time"
            called.add(match.group(2))
    assert called, "no queries found"
    return called


def test_every_query_called_exists():
    missing = _called_queries() - _defined_queries()
    assert not missing, f"called but defined in no sql/queries file: {sorted(missing)}"


def test_every_query_defined_is_called():
    unused = _defined_queries() - _called_queries()
    assert not unused, f"defined but never called: {sorted(unused)}"


def test_prepared_queries_exist():
    from app.db.engines import PostgresEngine

    assert PostgresEngine.prepared_queries <= Queries("postgresql", "psycopg2").names


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_schema_files_merge(dialect):
    numbers = [n for n, _ in schema_files(dialect)]
    assert numbers == sorted(numbers) and numbers[0] == 1

"""The SQL files: both dialects load, overrides exist in both, every query the DAO uses exists."""
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


def test_dialect_overrides_exist_in_both_dialects():
    names = {}
    for dialect, driver in (("sqlite", "sqlite3"), ("postgresql", "psycopg2")):
        names[dialect] = set(Queries(dialect, driver)._own.available_queries)
    assert names["sqlite"] == names["postgresql"]


def test_no_query_name_is_defined_twice():
    seen: dict[str, Path] = {}
    for path in (SQL_ROOT / "queries").rglob("*.sql"):
        folder = path.parent.name
        for name in re.findall(r"^-- name: ([a-z_0-9]+)", path.read_text(), re.M):
            key = f"{folder}:{name}"
            assert key not in seen, f"{name} defined in {seen.get(key)} and {path}"
            seen[key] = path


def test_every_query_used_by_the_code_exists():
    available = Queries("sqlite", "sqlite3").names
    used = set()
    for path in (ROOT / "app").rglob("*.py"):
        used |= set(re.findall(r"\.run\(\s*\"([a-z_0-9]+)\"", path.read_text()))
    assert used, "no queries found"
    assert used <= available, used - available


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_schema_files_merge(dialect):
    numbers = [n for n, _ in schema_files(dialect)]
    assert numbers == sorted(numbers) and numbers[0] == 1

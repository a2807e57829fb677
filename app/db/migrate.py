"""Apply ``sql/schema/{common,<dialect>}/NNNN_*.sql`` once each, recorded in ``schema_version``."""
from __future__ import annotations

import logging
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from .engines import Engine

logger = logging.getLogger(__name__)

SCHEMA_ROOT = Path(__file__).resolve().parents[2] / "sql" / "schema"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PG_LOCK_ID = 746_572_001  # advisory lock: several processes may start at once


class MigrationError(RuntimeError):
    """The schema files are inconsistent or a migration failed."""


def schema_files(dialect: str, root: Path = SCHEMA_ROOT) -> list[tuple[int, Path]]:
    """The ordered migrations of a dialect: common files merged with dialect files by number.

    A number may appear in ``common`` or in *both* dialect folders, never in only one of them.
    """
    found: dict[str, dict[int, Path]] = {}
    for folder in ("common", "postgresql", "sqlite"):
        found[folder] = {}
        for path in sorted((root / folder).glob("*.sql")):
            match = _NAME.match(path.name)
            if not match:
                raise MigrationError(f"Bad migration file name: {path}")
            number = int(match.group(1))
            if number in found[folder]:
                raise MigrationError(f"Duplicate migration number {number} in {folder}")
            found[folder][number] = path
    pg, lite, common = found["postgresql"], found["sqlite"], found["common"]
    if set(pg) != set(lite):
        raise MigrationError(f"Dialect migrations differ: {sorted(set(pg) ^ set(lite))}")
    if set(common) & set(pg):
        raise MigrationError(f"Numbers in common and dialect folders: {set(common) & set(pg)}")
    mine = found[dialect]
    merged = {**common, **mine}
    return sorted(merged.items())


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement knows the grammar)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current)
            current = ""
    if current.strip() and not all(
            part.strip().startswith("--") or not part.strip() for part in current.splitlines()):
        raise MigrationError("Incomplete SQL statement at end of script")
    return statements


def migrate(engine: Engine) -> list[int]:
    """Bring the schema up to date; return the numbers applied now. Idempotent."""
    conn = engine.connect()
    applied_now: list[int] = []
    try:
        engine.begin(conn, write=True)
        cur = conn.cursor()
        if engine.dialect == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL,"
            " applied_at VARCHAR(40) NOT NULL)")
        cur.execute("SELECT version FROM schema_version")
        done = {row[0] if isinstance(row, (tuple, sqlite3.Row)) else row["version"]
                for row in cur.fetchall()}
        for number, path in schema_files(engine.dialect):
            if number in done:
                continue
            logger.info("Applying schema migration %s", path.name)
            script = path.read_text(encoding="utf-8")
            if engine.dialect == "sqlite":
                for statement in split_statements(script):
                    cur.execute(statement)
            else:
                cur.execute(script)
            cur.execute(
                engine.convert("INSERT INTO schema_version (version, name, applied_at)"
                               " VALUES (?, ?, ?)"),
                (number, path.name, datetime.now(timezone.utc).isoformat()))
            applied_now.append(number)
        cur.close()
        engine.commit(conn)
    except Exception:
        engine.rollback(conn)
        raise
    finally:
        engine.release(conn)
    return applied_now

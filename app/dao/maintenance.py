"""Maintenance rows: the blob sweep's reference check, lock and schedule, released files, the
store identity, a new database's first statistics (sql: common/ and <dialect>/maintenance.sql)."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from ..db import DbConn


def referenced_blob_keys(conn: DbConn, blob_keys: Sequence[str]) -> set[str]:
    """Which of these file keys a ``blobs`` row references."""
    if not blob_keys:
        return set()
    rows = conn.run("list_referenced_blob_keys",
                    blob_keys=conn.engine.list_parameter(blob_keys))
    return {row["blob_key"] for row in rows}


def live_blob_keys(conn: DbConn, blob_keys: Sequence[str]) -> set[str]:
    """Which of these file keys an index row references now (not released)."""
    if not blob_keys:
        return set()
    rows = conn.run("list_live_blob_keys", blob_keys=conn.engine.list_parameter(blob_keys))
    return {row["blob_key"] for row in rows}


def remove_released(conn: DbConn, blob_keys: Sequence[str]) -> list[str]:
    """Remove the rows of released files, locking them until commit, in one statement; the
    keys removed (not those a store references again, or whose row is gone)."""
    if not blob_keys:
        return []
    rows = conn.run("remove_released_blobs",
                    blob_keys=conn.engine.list_parameter(sorted(blob_keys)))
    return [row["blob_key"] for row in rows]


def list_released(conn: DbConn, max_rows: int) -> list[str]:
    """Released files whose removal did not finish."""
    return [row["blob_key"] for row in conn.run("list_released_blobs", max_rows=max_rows)]


def claim_unreferenced(conn: DbConn, blob_key: str, now: datetime) -> bool:
    """Lock a key no row references (inside a write transaction); False if a row exists."""
    return conn.run("claim_unreferenced_blob", blob_key=blob_key, created_date=now) is not None


def claim_periodic_sweep(conn: DbConn, started: datetime, due_before: datetime) -> bool:
    """Claim this interval's periodic sweep: False when a sweep started after ``due_before``
    (on any node)."""
    return conn.run("claim_periodic_blob_sweep", started=started, due_before=due_before) > 0


def get_store_identity(conn: DbConn) -> str | None:
    row = conn.run("get_store_identity")
    return None if row is None else row["identity"]


def add_store_identity(conn: DbConn, identity: str) -> None:
    """Record the identity unless one exists (the caller reads back which one won)."""
    conn.run("add_store_identity", identity=identity)


def analyze_if_never_analyzed(conn: DbConn) -> bool:
    """Analyze the store tables if they never were; whether it did. Only on an engine that
    ``needs_first_analyze``; call inside a write transaction, which keeps the statistics only
    if it commits."""
    if conn.run("get_store_tables_never_analyzed") is None:
        return False
    conn.run("analyze_store_tables")
    return True

"""Maintenance rows: the blob sweep's reference check, a new database's first statistics
(sql: <dialect>/maintenance.sql)."""
from __future__ import annotations

from typing import Sequence

from ..db import DbConn


def referenced_blob_keys(conn: DbConn, blob_keys: Sequence[str]) -> set[str]:
    """Which of these file keys a ``blobs`` row references."""
    if not blob_keys:
        return set()
    rows = conn.run("list_referenced_blob_keys",
                    blob_keys=conn.engine.list_parameter(blob_keys))
    return {row["blob_key"] for row in rows}


def analyze_if_never_analyzed(conn: DbConn) -> bool:
    """Analyze the store tables if they never were; whether it did. Only on an engine that
    ``needs_first_analyze``; call inside a write transaction, which keeps the statistics only
    if it commits."""
    if conn.run("get_store_tables_never_analyzed") is None:
        return False
    conn.run("analyze_store_tables")
    return True

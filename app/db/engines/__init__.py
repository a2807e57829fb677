"""The two database engines: the few differences between PostgreSQL and SQLite live here
(base.py: what every engine offers; one module per engine)."""
from __future__ import annotations

from .base import Engine, as_datetime, transaction
from .postgresql import PostgresEngine
from .sqlite import SqliteEngine

__all__ = ["Engine", "PostgresEngine", "SqliteEngine", "as_datetime", "create_engine",
           "transaction"]


def create_engine(url: str, pool_size: int = 12, busy_timeout_ms: int = 30000,
                  sqlite_synchronous: str = "FULL") -> Engine:
    """Pick the engine from the database URL (``sqlite:///path`` or ``postgresql://...``)."""
    if url.startswith("sqlite:///"):
        return SqliteEngine(url[len("sqlite:///"):] or ":memory:", busy_timeout_ms,
                            sqlite_synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresEngine(url, pool_size)
    raise ValueError(f"Unsupported database URL: {url}")

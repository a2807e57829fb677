"""SQLite: the embedded default (one file, WAL mode)."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ...errors import DataStoreError
from .base import Engine


def _adapt_datetime(value: datetime) -> str:
    """Store timestamps in SQLite as fixed-width ISO-8601 UTC text, so they sort."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


sqlite3.register_adapter(datetime, _adapt_datetime)


#: ``PRAGMA synchronous`` values a deployment may choose. FULL (the default) fsyncs the WAL at
#: every commit, so a committed (acknowledged) store survives a power loss; NORMAL fsyncs only
#: at checkpoints: faster, but the last commits before a power loss may roll back.
SYNCHRONOUS_MODES = ("FULL", "NORMAL")


class SqliteEngine(Engine):
    """Embedded default: one file, WAL mode, a connection per request (reused when idle)."""

    dialect = "sqlite"
    driver = "sqlite3"
    integrity_errors = (sqlite3.IntegrityError,)
    operational_errors = (sqlite3.OperationalError, sqlite3.DatabaseError)
    serialized_writes = True

    #: Idle connections kept open. Closing the last connection of a WAL database checkpoints
    #: and removes the WAL file, which cost every request an fsync-heavy checkpoint.
    max_idle = 8

    def __init__(self, path: str, busy_timeout_ms: int = 30000, synchronous: str = "FULL"):
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}")
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def tuple_cursor(self, conn: Any) -> Any:
        cur = conn.cursor()
        cur.row_factory = None
        return cur

    def list_parameter(self, values: Sequence[Any]) -> Any:
        return json.dumps(list(values))  # read with json_each(): one statement for any length

    like_is_case_sensitive = False  # LIKE ignores ASCII case: GLOB tells it apart

    def like(self, expr: str) -> str:
        return f"{expr} LIKE ? ESCAPE '\\'"  # LIKE has no escape character by default

    def glob(self, expr: str) -> str:
        return f"{expr} GLOB ?"

    def connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self.busy_timeout_ms / 1000)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise DataStoreError() from exc
        return conn

    def release(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            conn.close()
            return
        with self._lock:
            if self.path != ":memory:" and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def begin(self, conn: sqlite3.Connection, write: bool) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock.
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("COMMIT")

    def rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

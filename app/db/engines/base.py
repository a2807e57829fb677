"""What every database engine offers: connection handling, transactions, dynamic SQL, and
the dialect's capabilities. One module per engine (sqlite.py, postgresql.py) holds its
differences."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from aiosql.types import SQLOperationType

from ...errors import DataStoreError


def as_datetime(value: Any) -> datetime | None:
    """Turn a timestamp column value (datetime or ISO text) into an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class Engine:
    """Base class: connection handling and dialect capabilities."""

    dialect: str = ""
    driver: str = ""
    integrity_errors: tuple[type[BaseException], ...] = ()
    operational_errors: tuple[type[BaseException], ...] = ()

    def connect(self) -> Any:
        raise NotImplementedError

    def release(self, conn: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close every pooled connection."""

    def begin(self, conn: Any, write: bool) -> None:
        raise NotImplementedError

    def begin_with_next_statement(self, conn: Any) -> None:
        """Begin a write transaction whose BEGIN may travel with its first statement (saving
        a round trip); only statements run through this engine and ``DbConn`` may follow."""
        self.begin(conn, write=True)

    def send_pending_begin(self, conn: Any) -> None:
        """Before a statement this engine does not send itself (aiosql's): send a BEGIN still
        waiting for its first statement."""

    def _pending_begin(self, conn: Any) -> str:
        """The BEGIN to send with the next statement, if one is waiting ("" if not)."""
        return ""

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    def convert(self, sql: str) -> str:
        """Convert ``?`` placeholders of dynamic SQL to the driver's style."""
        return sql

    #: Named queries this engine runs with ``run_prepared`` instead of aiosql.
    prepared_queries: frozenset[str] = frozenset()
    #: Write transactions run one at a time: BEGIN takes the database's only write lock (SQLite's
    #: BEGIN IMMEDIATE), so slow work (an fsync) belongs before it, not inside it.
    serialized_writes = False

    def run_prepared(self, conn: Any, name: str, sql: str, operation: SQLOperationType,
                     params: dict[str, Any]) -> Any:
        """Run a named query as a prepared statement; return what aiosql would."""
        raise NotImplementedError

    def tuple_cursor(self, conn: Any) -> Any:
        """A cursor whose rows are plain tuples."""
        raise NotImplementedError

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = (),
                tuples: bool = False) -> Any:
        """Run dynamic SQL (built from whitelisted names and ``?`` placeholders only)."""
        cur = self.tuple_cursor(conn) if tuples else conn.cursor()
        try:
            cur.execute(self._pending_begin(conn) + self.convert(sql), tuple(params))
        except self.operational_errors as exc:
            cur.close()
            raise DataStoreError() from exc
        return cur

    def streaming_cursor(self, conn: Any, sql: str, params: dict[str, Any]) -> Any:
        """A cursor on a named query's ``sql`` (the driver's parameter style) whose rows are
        read from the database as ``fetchmany`` asks for them; in a transaction."""
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur

    def close_cursor(self, cursor: Any) -> None:
        """Close a ``streaming_cursor``; a connection already broken is left to ``release``."""
        try:
            cursor.close()
        except self.operational_errors:
            pass

    def fetchall(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cur = self.execute(conn, sql, params)
        try:
            return cur.fetchall()
        finally:
            cur.close()

    def fetch_tuples(self, conn: Any, sql: str,
                     params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and the rows as tuples: no per-row dict (wide pages)."""
        cur = self.execute(conn, sql, params, tuples=True)
        try:
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            cur.close()

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column IN (?, ?, ...)`` with one bound parameter per value."""
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def list_parameter(self, values: Sequence[Any]) -> Any:
        """A list of values as one parameter of a named query; the dialect's SQL file reads it
        (PostgreSQL ``= ANY(:values)``, SQLite ``IN (SELECT value FROM json_each(:values))``)."""
        raise NotImplementedError

    # Capabilities: what a caller does differently on this database, named by what differs.

    #: INSERT and UPDATE inside WITH (PostgreSQL): the store writes every row of an instance
    #: in one statement, ``add_instance_rows``; without them, one statement per row.
    data_modifying_ctes: bool = False

    #: The planner knows nothing of a table until it is first analyzed (PostgreSQL, where
    #: autovacuum does that a minute or more after the table fills): a new database's store
    #: tables are analyzed once by the store itself (services.maintenance.note_stored).
    needs_first_analyze: bool = False

    # QIDO matching: the comparisons whose SQL differs by database (dao/query.py builds the
    # rest). Patterns are LIKE patterns whose wildcards ``\`` escapes, or GLOB patterns.

    #: Whether LIKE tells upper from lower case; where it does not, the case-sensitive
    #: wildcard match is ``glob``.
    like_is_case_sensitive: bool = True

    def like(self, expr: str) -> str:
        """``expr LIKE ?`` (case as ``like_is_case_sensitive`` says)."""
        raise NotImplementedError

    def glob(self, expr: str) -> str:
        """A case-sensitive wildcard match with a GLOB pattern, where LIKE ignores case."""
        raise NotImplementedError

    def ping(self) -> None:
        """Run a trivial query; raise if the database does not answer."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
            cur.close()
            self.rollback(conn)
        finally:
            self.release(conn)


@contextmanager
def transaction(engine: Engine, conn: Any, write: bool = True,
                begin_with_next_statement: bool = False) -> Iterator[Any]:
    """Run a unit of work: begin, then commit, or roll back on any error."""
    try:
        if begin_with_next_statement:
            engine.begin_with_next_statement(conn)
        else:
            engine.begin(conn, write)
    except engine.operational_errors as exc:
        raise DataStoreError() from exc
    try:
        yield conn
    except BaseException:
        try:
            engine.rollback(conn)
        except Exception:  # the original error matters more
            pass
        raise
    try:
        engine.commit(conn)
    except engine.operational_errors as exc:
        raise DataStoreError() from exc

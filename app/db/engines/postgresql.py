"""PostgreSQL: the production database (a connection pool, prepared statements for the
store path, BEGIN sent with the first statement)."""
from __future__ import annotations

import itertools
import queue
import re
import select
import threading
from functools import lru_cache
from typing import Any, Sequence

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from aiosql.types import SQLOperationType

from ...errors import DataStoreError
from .base import Engine

_QMARK = re.compile(r"\?")
#: Names of server-side cursors (unique per session).
_CURSOR_NUMBERS = itertools.count(1)


class PostgresEngine(Engine):
    """Production database: a thread-safe pool sized for waitress's threads."""

    dialect = "postgresql"
    driver = "psycopg2"
    integrity_errors = (psycopg2.IntegrityError,)
    operational_errors = (psycopg2.OperationalError, psycopg2.InterfaceError)

    #: The store path's and WADO's queries: PostgreSQL spends more CPU parsing and planning
    #: them than running them, so each connection prepares them once (PREPARE), then only
    #: EXECUTEs.
    prepared_queries = frozenset({"add_instance_rows", "get_partition", "get_instance_status",
                                  "get_instance_status_locking_tags", "lock_study_for_store",
                                  "get_instance_status_by_partition_name",
                                  "get_instance", "list_series_instances",
                                  "list_study_instances", "list_instance_metadata",
                                  "list_series_metadata", "list_study_metadata"})

    def __init__(self, dsn: str, pool_size: int = 12):
        self.dsn = dsn
        self.pool_size = pool_size
        # psycopg2's pools close every connection returned beyond ``minconn``, so with a lazy
        # pool (minconn 0) each request paid a new connection (~3 ms). This pool opens lazily
        # and keeps up to ``pool_size`` idle connections; callers wait for a free slot.
        self._idle: list[Any] = []
        # One token per connection that may be out (a queue: cheaper than a semaphore).
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(pool_size):
            self._slots.put(None)
        self._lock = threading.Lock()

    def connect(self) -> Any:
        try:
            self._slots.get(timeout=30)
        except queue.Empty:
            raise DataStoreError() from None
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            while conn is not None and not _still_open(conn):
                conn.close()  # ended by the server while idle: drop it
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = psycopg2.connect(self.dsn, connect_timeout=5,
                                        connection_factory=_PooledConnection,
                                        cursor_factory=psycopg2.extras.RealDictCursor)
                # Statements outside a transaction (the reads) run on their own: no BEGIN
                # before them and no ROLLBACK after them, one round trip each.
                conn.autocommit = True
        except psycopg2.Error as exc:
            self._give_back(None)
            raise DataStoreError() from exc
        return conn

    def release(self, conn: Any) -> None:
        broken = bool(conn.closed)
        if not broken and not _idle_in_autocommit(conn):
            try:
                self.rollback(conn)  # a transaction left open (nothing outside one)
            except psycopg2.Error:
                broken = True
        if broken:
            conn.close()
        self._give_back(None if broken else conn)

    def _give_back(self, conn: Any) -> None:
        """Free a slot; keep ``conn`` (if not None) for the next connect."""
        if conn is not None:
            with self._lock:
                self._idle.append(conn)
        self._slots.put(None)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def tuple_cursor(self, conn: Any) -> Any:
        return conn.cursor(cursor_factory=psycopg2.extensions.cursor)

    def streaming_cursor(self, conn: Any, sql: str, params: dict[str, Any]) -> Any:
        # A named cursor is DECLAREd on the server; each fetchmany is one FETCH FORWARD n.
        cur = conn.cursor(name=f"stream_{next(_CURSOR_NUMBERS)}")
        cur.execute(sql, params)
        return cur

    def close_cursor(self, cursor: Any) -> None:
        try:
            cursor.close()  # CLOSE on the server, unless its transaction failed or ended
        except psycopg2.Error:
            pass  # the transaction's rollback, or release(), ends what is left

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column = ANY(?)`` with the values as one array parameter: one statement text
        (and plan) whatever the list's length."""
        return f"{column} = ANY(?)", [list(values)]

    def list_parameter(self, values: Sequence[Any]) -> Any:
        return list(values)  # psycopg2 sends a list as an ARRAY

    data_modifying_ctes = True
    needs_first_analyze = True
    like_is_case_sensitive = True

    def like(self, expr: str) -> str:
        return f"{expr} LIKE ?"  # ``\`` is LIKE's default escape character here

    # Connections are in autocommit mode outside transactions (connect()): a read is one round
    # trip. begin() turns autocommit off, so psycopg2 sends BEGIN before the next statement;
    # begin_with_next_statement() keeps it on and sends "BEGIN; " with the first statement.
    # Both end in autocommit mode again.

    def _end_failed(self, conn: Any) -> None:
        """End a transaction that is still open (after an error), whichever way it began."""
        if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            self.rollback(conn)

    def begin(self, conn: Any, write: bool) -> None:
        self._end_failed(conn)
        conn.autocommit = False

    def begin_with_next_statement(self, conn: Any) -> None:
        # psycopg2 would send its BEGIN in a round trip of its own before the first statement.
        # In autocommit mode it sends none: "BEGIN; <first statement>" goes as one query, and
        # the transaction stays open on the server until commit() or rollback() sends COMMIT or
        # ROLLBACK.
        self._end_failed(conn)
        conn.autocommit = True
        conn.begin_pending = True

    def _pending_begin(self, conn: Any) -> str:
        if getattr(conn, "begin_pending", False):
            conn.begin_pending = False
            return "BEGIN; "
        return ""

    def send_pending_begin(self, conn: Any) -> None:
        if getattr(conn, "begin_pending", False):
            conn.begin_pending = False
            with conn.cursor() as cur:
                cur.execute("BEGIN")

    def commit(self, conn: Any) -> None:
        self._finish(conn, "COMMIT")

    def rollback(self, conn: Any) -> None:
        self._finish(conn, "ROLLBACK")

    def _finish(self, conn: Any, statement: str) -> None:
        """End the transaction (if one is open) with ``statement``; back to autocommit mode."""
        try:
            if not conn.autocommit:  # begin(): psycopg2's own transaction
                if statement == "COMMIT":
                    conn.commit()
                else:
                    conn.rollback()
            elif conn.begin_pending:  # no statement ran: nothing was begun
                conn.begin_pending = False
            elif (conn.info.transaction_status
                  != psycopg2.extensions.TRANSACTION_STATUS_IDLE):
                with conn.cursor() as cur:
                    cur.execute(statement)
        finally:
            if not conn.closed:
                conn.begin_pending = False
                try:
                    conn.autocommit = True
                except psycopg2.Error:  # still in a transaction it could not end: drop it
                    conn.close()

    def convert(self, sql: str) -> str:
        return _QMARK.sub("%s", sql)

    def run_prepared(self, conn: Any, name: str, sql: str, operation: SQLOperationType,
                     params: dict[str, Any]) -> Any:
        statement, order, execute = _prepared_form(name, sql)
        # Plain tuples made into dicts here cost less than RealDictCursor's rows.
        with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
            try:
                if name not in conn.prepared:  # names come from prepared_queries only
                    cur.execute(f"{self._pending_begin(conn)}PREPARE {name} AS {statement}")
                    conn.prepared.add(name)
                if conn.begin_pending:
                    execute = self._pending_begin(conn) + execute
                cur.execute(execute, [params[p] for p in order])
            except (psycopg2.errors.FeatureNotSupported,
                    psycopg2.errors.InvalidSqlStatementName) as exc:
                # The session's statement no longer fits the schema (a migration by another
                # server changed a column: "cached plan must not change result type") or is
                # gone (DEALLOCATE by a pooler): this connection is dropped, the next one
                # prepares anew.
                conn.close()
                raise DataStoreError() from exc
            if operation is SQLOperationType.INSERT_UPDATE_DELETE:
                return cur.rowcount
            # A prepared statement's columns are fixed for its session (a schema change makes
            # EXECUTE fail, above, and the connection is dropped).
            names = conn.columns.get(name)
            if names is None:
                names = conn.columns[name] = [column.name for column in cur.description]
            if operation is SQLOperationType.SELECT_ONE:
                row = cur.fetchone()
                return None if row is None else dict(zip(names, row))
            if operation is SQLOperationType.SELECT:
                return [dict(zip(names, row)) for row in cur.fetchall()]
        raise ValueError(f"{name}: only ^, ! and plain SELECT queries run prepared")


def _idle_in_autocommit(conn: Any) -> bool:
    """Whether ``conn`` is back in autocommit mode with no transaction open or pending (a
    read's connection): nothing for release() to end."""
    return (conn.autocommit and not conn.begin_pending
            and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE)


def _still_open(conn: Any) -> bool:
    """Whether an idle pooled connection is still usable. A server that ends a session (a
    restart or failover, ``pg_terminate_backend``, an idle-session timeout) sends a FATAL
    message and closes the socket, so it turns readable; an idle session is otherwise sent
    nothing (no LISTEN here). One non-blocking poll per checkout."""
    if conn.closed:
        return False
    try:
        if hasattr(select, "poll"):  # no descriptor-number limit, unlike select()
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([conn], [], [], 0)
    except (OSError, ValueError, psycopg2.Error):
        return False
    return not readable


class _PooledConnection(psycopg2.extensions.connection):
    """A connection that remembers which statements its session has prepared (a prepared
    statement lives as long as the session, whatever its transactions do)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()
        #: The result's column names of each prepared statement.
        self.columns: dict[str, list[str]] = {}
        #: begin_with_next_statement: BEGIN not sent yet, to go with the next statement.
        self.begin_pending = False


_PYFORMAT = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=None)
def _prepared_form(name: str, sql: str) -> tuple[str, tuple[str, ...], str]:
    """aiosql's psycopg2 SQL (``%(name)s``) as a PREPARE body (``$n``), the parameter names
    in ``$n`` order, and the EXECUTE statement of query ``name`` (``%s`` for each)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    statement = _PYFORMAT.sub(number, sql).replace("%%", "%")
    arguments = f"({', '.join(['%s'] * len(order))})" if order else ""
    return statement, tuple(order), f"EXECUTE {name}{arguments}"

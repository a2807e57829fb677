"""Database access for services: engine, named queries, connections (no Flask: the HTTP edge,
``app/api/edge.py``, keeps one connection per request)."""
from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from .. import metrics
from ..errors import DataStoreError
from .engines import Engine, as_datetime, create_engine, transaction
from .migrate import migrate
from .queries import Queries, load_queries

__all__ = ["Database", "DbConn", "as_datetime", "migrate"]


class DbConn:
    """A driver connection with its engine and queries: what services and DAO functions take."""

    def __init__(self, engine: Engine, queries: Queries, raw: Any,
                 shared_cache: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.queries = queries
        self.raw = raw
        self._depth = 0
        #: Values services may keep for this connection's lifetime (one request or one worker
        #: poll), and for the current outermost transaction only (cleared when it ends).
        self.cache: dict[str, Any] = {}
        self.transaction_cache: dict[str, Any] = {}
        #: Values shared by every connection of this process to the database; whoever reads
        #: one must know how to tell it is still current (e.g. a signature the store path
        #: reads in its own transaction).
        self.shared_cache: dict[str, Any] = {} if shared_cache is None else shared_cache

    @property
    def dialect(self) -> str:
        return self.engine.dialect

    @contextmanager
    def transaction(self, write: bool = True,
                    begin_with_next_statement: bool = False) -> Iterator["DbConn"]:
        """Begin/commit/rollback; nested calls join the outer transaction.

        ``begin_with_next_statement``: a write transaction whose BEGIN may go with its first
        statement (PostgreSQL: one round trip less); its statements must all go through this
        object (``run``, ``execute``, ``fetchall``, ``fetch_tuples``).
        """
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with transaction(self.engine, self.raw, write or begin_with_next_statement,
                             begin_with_next_statement):
                yield self
        finally:
            self._depth = 0
            self.transaction_cache.clear()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def run(self, name: str, **params: Any) -> Any:
        """Run a named query; a SELECT's rows come back as a list."""
        try:
            query = self.queries.get(name)
            if name in self.engine.prepared_queries:
                return self.engine.run_prepared(self.raw, name, query.sql, query.operation,
                                                params)
            self.engine.send_pending_begin(self.raw)
            result = query(self.raw, **params)
            if inspect.isgenerator(result):
                result = list(result)
            return result
        except self.engine.integrity_errors:
            raise  # sqlite3.IntegrityError is a DatabaseError too; callers handle it
        except self.engine.operational_errors as exc:
            raise DataStoreError() from exc

    def stream(self, name: str, batch_size: int, **params: Any) -> Iterator[list[Any]]:
        """Run the named SELECT ``name`` as one statement, in a transaction of its own, and
        yield its rows in lists of up to ``batch_size``, each fetched from the database when
        it is asked for (PostgreSQL: a server-side cursor; SQLite: the statement stepped): the
        rows are one snapshot, however long their reading takes, and memory holds one batch.

        The transaction (and the cursor) end when the rows are exhausted or the generator is
        closed, which its caller must make sure of before the connection is released or used
        again."""
        query = self.queries.get(name)
        try:
            with self.transaction(write=False):
                cursor = self.engine.streaming_cursor(self.raw, query.sql, params)
                try:
                    while True:
                        rows = cursor.fetchmany(batch_size)
                        if not rows:
                            return
                        yield rows
                finally:
                    self.engine.close_cursor(cursor)
        except self.engine.operational_errors as exc:
            raise DataStoreError() from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run dynamic SQL with ``?`` placeholders; return the row count."""
        cur = self.engine.execute(self.raw, sql, params)
        try:
            return cur.rowcount
        finally:
            cur.close()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run dynamic SQL with ``?`` placeholders; return all rows."""
        try:
            return self.engine.fetchall(self.raw, sql, params)
        except self.engine.operational_errors as exc:
            raise DataStoreError() from exc

    def fetch_tuples(self, sql: str,
                     params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run dynamic SQL with ``?`` placeholders; return the column names and tuple rows."""
        try:
            return self.engine.fetch_tuples(self.raw, sql, params)
        except self.engine.operational_errors as exc:
            raise DataStoreError() from exc


class Database:
    """The engine and queries of one configured database."""

    def __init__(self, url: str, pool_size: int = 12, busy_timeout_ms: int = 30000,
                 sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.engine = create_engine(url, pool_size, busy_timeout_ms, sqlite_synchronous)
        self.queries = load_queries(self.engine.dialect, self.engine.driver)
        self.shared_cache: dict[str, Any] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect

    def connect(self) -> DbConn:
        conn = DbConn(self.engine, self.queries, self.engine.connect(), self.shared_cache)
        metrics.connection_taken(1)
        return conn

    def release(self, conn: DbConn) -> None:
        metrics.connection_taken(-1)
        self.engine.release(conn.raw)

    @contextmanager
    def connection(self) -> Iterator[DbConn]:
        """A connection outside a request (worker threads, CLI, startup checks)."""
        conn = self.connect()
        try:
            yield conn
        finally:
            self.release(conn)

    def migrate(self) -> list[int]:
        return migrate(self.engine)

    def close(self) -> None:
        self.engine.close()

"""The collation backfill: folded columns for rows stored before migration 0110 (issue #21
item 6; decisions §6 "QIDO").

Searches compare folded columns (app/dicomweb/collation.py), which the store fills from
Python. A migration cannot run Python on SQLite, so migration 0110 adds the columns empty and
0111 leaves a marker in ``pending_backfills``; startup (and ``flask db upgrade``) then runs this once,
before the server answers: every study, series and extended query tag string or person name
value without its folded form gets it, in batches of ``BATCH_SIZE`` rows read in key order
(keyset pages: memory and transaction size stay bounded at any database size; a restart
resumes, as finished rows no longer match), each batch one transaction. On PostgreSQL a
batch's rows are locked while it runs, so a store on another node never has its new values
overwritten with folds of the old ones; a batch that loses a deadlock to such a store is run
again. The marker is removed at the end: later startups cost one query.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..dao import collations as dao
from ..db import DbConn
from ..errors import DataStoreError
from .extended_query_tag_values import folded_value
from .instance_index import FOLDED, add_folded_columns

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
_ATTEMPTS = 3


def backfill(conn: DbConn, batch_size: int | None = None) -> int:
    """Run the backfill if migration 0111 left it pending; the number of rows folded."""
    if not dao.is_pending(conn):
        return 0
    batch_size = batch_size or BATCH_SIZE
    started = time.monotonic()
    logger.info("Filling the folded search columns of rows stored before this version")
    done = _backfill_keyed(conn, batch_size, "study_key", dao.list_studies, _fold_studies)
    done += _backfill_keyed(conn, batch_size, "series_key", dao.list_series, _fold_series)
    for table in dao.VALUE_TABLES:
        done += _backfill_values(conn, batch_size, table)
    with conn.transaction():
        dao.finish(conn)
    logger.info("Folded the search columns of %d rows in %.1f s", done,
                time.monotonic() - started)
    return done


def _fold_studies(conn: DbConn, rows: list[dict[str, Any]]) -> None:
    folded = []
    for row in rows:
        study = dict(row)
        add_folded_columns(study, {})
        folded.append({"study_key": row["study_key"],
                       **{f"{c}_folded": study[f"{c}_folded"] for c, _ in FOLDED["study"]}})
    dao.set_studies(conn, folded)


def _fold_series(conn: DbConn, rows: list[dict[str, Any]]) -> None:
    folded = []
    for row in rows:
        series = dict(row)
        add_folded_columns({}, series)
        folded.append({"series_key": row["series_key"],
                       **{f"{c}_folded": series[f"{c}_folded"] for c, _ in FOLDED["series"]}})
    dao.set_series(conn, folded)


def _batch(conn: DbConn, read: Callable[[], list[dict[str, Any]]],
           write: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Read and write one batch in one transaction (again after a lost deadlock)."""
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction():
                rows = read()
                write(rows)
            return rows
        except DataStoreError:
            if attempt == _ATTEMPTS - 1:
                raise
            logger.warning("A backfill batch failed; running it again", exc_info=True)
    return []  # not reached


def _backfill_keyed(conn: DbConn, batch_size: int, key: str,
                    read: Callable[[DbConn, int, int], list[dict[str, Any]]],
                    fold: Callable[[DbConn, list[dict[str, Any]]], None]) -> int:
    after, done = 0, 0
    while True:
        rows = _batch(conn, lambda: read(conn, after, batch_size), lambda rows: fold(conn, rows))
        done += len(rows)
        if len(rows) < batch_size:
            return done
        after = int(rows[-1][key])


def _backfill_values(conn: DbConn, batch_size: int, table: str) -> int:
    after: tuple[int, ...] = (-1, -1, -1, -1, -1)
    done = 0

    def write(rows: list[dict[str, Any]]) -> None:
        dao.set_values(conn, table, [
            {**{k: row[k] for k in dao.VALUE_KEY},
             "tag_value_folded": folded_value(table, row["tag_value"])} for row in rows])
    while True:
        rows = _batch(conn, lambda: dao.list_values(conn, table, after, batch_size), write)
        done += len(rows)
        if len(rows) < batch_size:
            return done
        after = tuple(int(rows[-1][k]) for k in dao.VALUE_KEY)

"""Maintenance: sweep blob-store leftovers (decisions §3); first statistics of a new database.

A file becomes garbage when a store wrote it but its index transaction never committed (a crash,
or a duplicate that lost a race with different bytes). Such files have no ``blobs`` row. The
sweep removes them, and stale temporary files, once they are older than a safety margin, so a
store in flight is never touched. It runs in the background at startup and on demand with
``flask --app wsgi blobs sweep``.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterable

from ..blobs import BlobStore
from ..dao import maintenance as dao
from ..db import Database, DbConn

logger = logging.getLogger(__name__)


def sweep_blobs(database: Database, blobs: BlobStore,
                min_age_seconds: float = 3600) -> int:
    """Remove unreferenced files older than ``min_age_seconds``; return how many."""
    with database.connection() as conn:
        def referenced(keys: Iterable[str]) -> set[str]:
            batch = list(keys)
            if not batch:
                return set()
            found = dao.referenced_blob_keys(conn, batch)
            conn.engine.rollback(conn.raw)  # end the read transaction between batches
            return found

        removed = blobs.sweep(referenced, min_age_seconds)
    if removed:
        logger.info("Blob sweep removed %d unreferenced or temporary files", removed)
    return removed


#: Instances a process stores before it checks that PostgreSQL has statistics of the index.
FIRST_ANALYZE_AFTER = 500
_stored = {"count": 0, "checked": False}
_stored_lock = threading.Lock()


def note_stored(conn: DbConn, count: int) -> None:
    """Count stored instances; once, give a new PostgreSQL database its first statistics.

    Until autovacuum first analyzes the tables (up to a minute or more after they fill), the
    planner knows nothing about them and may look up an instance by its UIDs through the
    partition's watermark index, reading every row of the partition. A process that has
    stored ``FIRST_ANALYZE_AFTER`` instances analyzes the store tables if nobody ever did.
    Call outside a transaction.
    """
    if not conn.engine.needs_first_analyze or _stored["checked"]:
        return
    with _stored_lock:
        _stored["count"] += count
        if _stored["checked"] or _stored["count"] < FIRST_ANALYZE_AFTER:
            return
        _stored["checked"] = True
    try:
        with conn.transaction():  # ANALYZE's statistics are kept only if it commits
            if dao.analyze_if_never_analyzed(conn):
                logger.info("Analyzed the store tables of a new database")
    except Exception:  # the store has committed: its answer must not depend on this
        logger.exception("Analyzing the store tables failed")


def start_background_sweep(database: Database, blobs: BlobStore,
                           min_age_seconds: float = 3600) -> threading.Thread:
    """Sweep once in a daemon thread, so startup does not wait for a large store to be read."""
    def run() -> None:
        try:
            sweep_blobs(database, blobs, min_age_seconds)
        except Exception:  # a failed sweep must never stop the server
            logger.exception("Blob sweep failed")

    thread = threading.Thread(target=run, name="blob-sweep", daemon=True)
    thread.start()
    return thread

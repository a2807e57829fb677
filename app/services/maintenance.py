"""Maintenance: sweep blob-store leftovers (decisions §3).

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

from ..blobstore import FileSystemBlobStore
from ..db import Database

logger = logging.getLogger(__name__)


def sweep_blobs(database: Database, blobs: FileSystemBlobStore,
                min_age_seconds: float = 3600) -> int:
    """Remove unreferenced files older than ``min_age_seconds``; return how many."""
    with database.connection() as conn:
        def referenced(keys: Iterable[str]) -> set[str]:
            batch = list(keys)
            if not batch:
                return set()
            clause, params = conn.engine.in_list("blob_key", batch)
            rows = conn.fetchall(f"SELECT blob_key FROM blobs WHERE {clause}", params)
            conn.engine.rollback(conn.raw)  # end the read transaction between batches
            return {row["blob_key"] for row in rows}

        removed = blobs.sweep(referenced, min_age_seconds)
    if removed:
        logger.info("Blob sweep removed %d unreferenced or temporary files", removed)
    return removed


def start_background_sweep(database: Database, blobs: FileSystemBlobStore,
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

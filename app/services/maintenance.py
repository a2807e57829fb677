"""Maintenance: first statistics of a new database (the blob sweep: blob_sweep.py)."""
from __future__ import annotations

import logging
import threading

from ..dao import maintenance as dao
from ..db import DbConn

logger = logging.getLogger(__name__)


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

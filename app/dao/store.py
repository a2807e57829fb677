"""The store path's locks (``sql/queries/<dialect>/store.sql``)."""
from __future__ import annotations

from typing import Iterable

from ..db import DbConn


def lock_studies_for_store(conn: DbConn, partition_name: str,
                           study_instance_uids: Iterable[str]) -> None:
    """Lock these studies of the partition until commit, in one global order (PostgreSQL; on
    SQLite write transactions are serialized and there is nothing to lock)."""
    keys = sorted({f"{partition_name.lower()}/{uid}" for uid in study_instance_uids})
    for key in keys:
        conn.run("lock_study_for_store", study_lock_key=key)

"""The store path's locks (``sql/queries/<dialect>/store.sql``)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from ..db import DbConn


def lock_studies_for_store(conn: DbConn, partition_name: str,
                           study_instance_uids: Iterable[str]) -> None:
    """Lock these studies of the partition until commit, in one global order (PostgreSQL; on
    SQLite write transactions are serialized and there is nothing to lock)."""
    keys = sorted({f"{partition_name.lower()}/{uid}" for uid in study_instance_uids})
    for key in keys:
        conn.run("lock_study_for_store", study_lock_key=key)


#: Rounds of ``reserve_blobs`` before giving up (each round holds every key it can; a key is
#: left over only when a concurrent removal deleted its row between the round's two steps).
_RESERVE_ROUNDS = 10


def reserve_blobs(conn: DbConn, sizes: Mapping[str, int], now: datetime) -> None:
    """Hold the rows of these files (key -> size) until commit, before their objects are put:
    a released file's removal and the sweep then wait for this transaction, which commits
    its references (PostgreSQL: ``reserve_blobs`` in store.sql; not for engines with
    serialized writes)."""
    pending = dict(sorted(sizes.items()))
    for _ in range(_RESERVE_ROUNDS):
        rows = conn.run("reserve_blobs", blob_keys=list(pending), sizes=list(pending.values()),
                        created_date=now)
        for row in rows:
            pending.pop(row["blob_key"], None)
        if not pending:
            return
    raise RuntimeError(f"Could not hold the rows of {len(pending)} files")

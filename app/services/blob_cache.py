"""The periodic check of the S3 store's node-local read cache (blobs/read_cache.py; decisions
"S3 read cache"): every ``interval_seconds`` it drops the cached copies of blobs the index no
longer references (a study another node deleted: its bytes do not linger on this node) and
those past the cache's maximum age. Each node checks its own cache; one process per node at a
time (the cache's lock file)."""
from __future__ import annotations

import logging

from ..blobs.read_cache import ReadCache
from ..dao import maintenance as dao
from ..db import Database
from .daemon_loop import DaemonLoop

logger = logging.getLogger(__name__)


def check_cache(database: Database, cache: ReadCache) -> int:
    """Drop the cached copies the index no longer references and those too old; the count."""
    with database.connection() as conn:
        def live(keys: list[str]) -> set[str]:
            with conn.transaction(write=False):
                return dao.live_blob_keys(conn, keys)
        dropped = cache.check(live)
    if dropped:
        logger.info("Read cache check: dropped %d cached blobs", dropped)
    return dropped


class PeriodicCacheCheck(DaemonLoop):
    """A daemon thread that checks the read cache every ``interval_seconds``."""

    def __init__(self, database: Database, cache: ReadCache, interval_seconds: float) -> None:
        super().__init__("read-cache-check")
        self._args = (database, cache)
        self.interval_seconds = interval_seconds

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                check_cache(*self._args)
            except Exception:  # a failed check must never stop the server
                logger.exception("Read cache check failed")

"""A background thread of a server process that repeats its work until the process stops it:
the blob sweep (blob_sweep.py), the read cache's check (blob_cache.py) and the operations
worker (app/worker.py)."""
from __future__ import annotations

import threading


class DaemonLoop:
    """A daemon thread running ``_loop`` until stopped (``_stop`` is set)."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> "DaemonLoop":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop waiting; work in progress finishes first (``timeout``: wait at most). A loop
        never started only remembers not to run."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        raise NotImplementedError

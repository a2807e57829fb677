"""The background worker: a thread per server process that runs queued operations.

Started by ``create_app`` when ``ENABLE_BACKGROUND_WORKER`` is true. Several processes may share
one database: each claims operations through the job table (``app/services/operations.py``),
so a given operation runs in one process at a time, and one abandoned by a crashed process is
picked up again once its lease expires. Tests call ``run_pending_once(app)`` synchronously.
"""
from __future__ import annotations

import atexit
import logging
import os
import socket
import uuid
from typing import Callable

from flask import Flask

from .services.daemon_loop import DaemonLoop
from .services.export_destinations import ExportSettings
from .services.operations import WorkerSettings, run_next_operation

logger = logging.getLogger(__name__)

#: At most this many operations per call of run_pending_once (bounds one poll).
MAX_OPERATIONS_PER_POLL = 20


def new_owner() -> str:
    """A worker identity unique across hosts, processes and restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def settings_of(app: Flask) -> WorkerSettings:
    return WorkerSettings(
        lease_seconds=float(app.config["OPERATION_LEASE_SECONDS"]),
        reindex_batch_size=int(app.config["REINDEX_BATCH_SIZE"]),
        blobs=app.extensions["dicom_blobs"],
        export=ExportSettings.from_config(app.config),
        export_batch_size=int(app.config["EXPORT_BATCH_SIZE"]))


def run_pending_once(app: Flask, owner: str | None = None,
                     should_stop: Callable[[], bool] = lambda: False) -> int:
    """Run every claimable operation (up to a bound); return how many ran."""
    owner = owner or new_owner()
    settings = settings_of(app)
    ran = 0
    with app.extensions["dicom_db"].connection() as conn:
        while ran < MAX_OPERATIONS_PER_POLL and not should_stop():
            if not run_next_operation(conn, owner, settings, should_stop):
                break
            ran += 1
    return ran


class Worker(DaemonLoop):
    """Polls the job table every ``WORKER_POLL_SECONDS`` in a daemon thread."""

    def __init__(self, app: Flask) -> None:
        super().__init__("dicom-worker")
        self.app = app
        self.owner = new_owner()
        self.poll_seconds = float(app.config["WORKER_POLL_SECONDS"])

    def start(self) -> "Worker":
        super().start()
        logger.info("Background worker %s started", self.owner)
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop after the current batch (an unfinished operation is released for others)."""
        super().stop(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_pending_once(self.app, self.owner, self._stop.is_set)
            except Exception:  # never let the thread die: log and poll again
                logger.exception("Background worker poll failed")
            self._stop.wait(self.poll_seconds)


def init_app(app: Flask) -> Worker | None:
    """Start the worker when the configuration asks for it."""
    if not app.config["ENABLE_BACKGROUND_WORKER"]:
        return None
    worker = Worker(app)
    app.extensions["dicom_worker"] = worker
    worker.start()
    # On a normal exit (Ctrl-C included) hand the running operation back at once, instead of
    # letting it wait for its lease to expire.
    atexit.register(worker.stop, 10.0)
    return worker

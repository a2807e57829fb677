"""Spread connections evenly over the processes of ``python wsgi.py`` (DICOM_PROCESSES > 1).

All processes accept on one listening socket; the kernel wakes every one of them for a new
connection and the first to call accept() gets it. Clients such as a PACS or a benchmark open a
few keep-alive connections at once, so by chance three of four (or all four) could land in one
process, which then runs their requests on one core (one GIL) while the other core idles.

Each process publishes its number of open connections in a small shared array made before the
fork. A process holding more connections than another leaves a waiting connection to the
others, for at most ``MAX_DEFER`` seconds (so a process that is stuck cannot keep a client
waiting), and accepts it as usual otherwise.
"""
from __future__ import annotations

import mmap
import time
from typing import Any

#: The longest a process leaves a waiting connection to the others.
MAX_DEFER = 0.05
#: Pause between two looks at a connection this process leaves to the others (the listening
#: socket stays readable until one of them accepts, so the loop would otherwise spin).
_PAUSE = 0.0005
#: A gap between two deferrals longer than this means a new connection is waiting.
_NEW_DEFERRAL = 0.02


class ConnectionCounts:
    """Open connections per process, in memory shared by the processes forked after it."""

    def __init__(self, processes: int):
        self._memory = mmap.mmap(-1, 4 * processes)  # anonymous, shared across fork
        self.counts = memoryview(self._memory).cast("i")

    def should_defer(self, index: int, mine: int) -> bool:
        """Does process ``index``, with ``mine`` open connections, hold more than another?"""
        self.counts[index] = mine
        return any(count < mine for other, count in enumerate(self.counts) if other != index)


def balance(server: Any, counts: ConnectionCounts, index: int) -> None:
    """Make a waitress server (one listening socket) accept only while no other process holds
    fewer connections, or once a connection has waited ``MAX_DEFER`` for the others."""
    accept = server.handle_accept
    readable = server.readable
    #: [when the current deferral began, when this process last deferred]
    deferral = [0.0, float("-inf")]

    def balanced_readable() -> bool:
        counts.counts[index] = len(server.active_channels)  # closed ones leave it here
        return readable()

    def balanced_accept() -> None:
        if counts.should_defer(index, len(server.active_channels)):
            now = time.monotonic()
            if now - deferral[1] > _NEW_DEFERRAL:  # not the same waiting connection
                deferral[0] = now
            deferral[1] = now
            if now - deferral[0] < MAX_DEFER:
                time.sleep(_PAUSE)
                return
        accept()
        counts.counts[index] = len(server.active_channels)

    server.readable = balanced_readable
    server.handle_accept = balanced_accept

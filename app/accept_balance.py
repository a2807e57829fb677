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


class ConnectionCounts:
    """Open connections per process, in memory shared by the processes forked after it."""

    def __init__(self, processes: int):
        # Anonymous, so shared across fork: a count per process, then the number of accepts.
        self._memory = mmap.mmap(-1, 4 * (processes + 1))
        slots = memoryview(self._memory).cast("i")
        self.counts, self._accepts = slots[:processes], slots[processes:]

    def should_defer(self, index: int, mine: int) -> bool:
        """Does process ``index``, with ``mine`` open connections, hold more than another?"""
        self.counts[index] = mine
        return any(count < mine for other, count in enumerate(self.counts) if other != index)

    @property
    def accepts(self) -> int:
        """How many connections the processes accepted (changes when any of them accepts)."""
        return self._accepts[0]

    def accepted(self) -> None:
        self._accepts[0] = (self._accepts[0] + 1) & 0x7FFFFFFF


def balance(server: Any, counts: ConnectionCounts, index: int) -> None:
    """Make a waitress server (one listening socket) accept only while no other process holds
    fewer connections, or once a connection has waited ``MAX_DEFER`` for the others."""
    accept = server.handle_accept
    readable = server.readable
    #: [when this process began leaving the waiting connection(s) to the others, the number
    #: of accepts then]: a new deferral begins only once some process has accepted.
    deferral = [0.0, -1]

    def balanced_readable() -> bool:
        counts.counts[index] = len(server.active_channels)  # closed ones leave it here
        return readable()

    def balanced_accept() -> None:
        if counts.should_defer(index, len(server.active_channels)):
            now = time.monotonic()
            if counts.accepts != deferral[1]:  # not the connection(s) deferred before
                deferral[0], deferral[1] = now, counts.accepts
            if now - deferral[0] < MAX_DEFER:
                time.sleep(_PAUSE)
                return
        accept()
        counts.accepted()
        counts.counts[index] = len(server.active_channels)

    server.readable = balanced_readable
    server.handle_accept = balanced_accept

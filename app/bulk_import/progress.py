"""Progress of an import: a rich progress bar on a terminal (files, MB, instances/s, ETA), a
plain line every few seconds otherwise (logs, CI, pipes)."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``advance(files, size)`` after each batch; ``close()`` at the end."""

    def __init__(self, total_files: int, total_bytes: int, stream: TextIO | None = None,
                 interval: float = 5.0, fancy: bool | None = None) -> None:
        self.total_files, self.total_bytes = total_files, total_bytes
        self.files = self.bytes = self.instances = 0
        self.stream = stream or sys.stderr
        self.interval = interval
        self.started = self._last_line = time.monotonic()
        self._bar: Any = None
        if fancy if fancy is not None else self.stream.isatty():
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress as Bar, TextColumn,
                                   TimeRemainingColumn)

        self._bar = Bar(TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
                        BarColumn(), DownloadColumn(),
                        TextColumn("{task.fields[rate]:.1f} inst/s"), TimeRemainingColumn(),
                        console=Console(file=self.stream), transient=False)
        self._task = self._bar.add_task("import", total=self.total_bytes or 1, files=0,
                                        total_files=self.total_files, rate=0.0)
        self._bar.start()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.instances / elapsed if elapsed > 0 else 0.0

    def advance(self, files: int, size: int, instances: int) -> None:
        self.files += files
        self.bytes += size
        self.instances += instances
        if self._bar is not None:
            self._bar.update(self._task, completed=self.bytes, files=self.files,
                             rate=self.rate())
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._line()

    def _line(self) -> None:
        elapsed = time.monotonic() - self.started
        speed = self.bytes / elapsed if elapsed > 0 else 0
        eta = (self.total_bytes - self.bytes) / speed if speed > 0 else None
        print(f"{self.files}/{self.total_files} files, {self.bytes / 1e6:.1f}/"
              f"{self.total_bytes / 1e6:.1f} MB, {self.rate():.1f} inst/s, ETA {_eta(eta)}",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            self._line()

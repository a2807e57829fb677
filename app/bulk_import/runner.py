"""Run an import: batches to several workers, progress, a summary, a JSON-lines report.

Re-running an interrupted import is the way to resume: instances already stored come back
as 45070 and are counted as already present, not as failures.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Iterable, TextIO

from .progress import Progress
from .sources import HEAD, Item, batches, is_part10
from .targets import FAILED, NOT_DICOM, PRESENT, STORED, Outcome, Spool, Target

#: Small files are sent together up to these bounds (a multipart request, or one store call).
BATCH_FILES = 50
BATCH_BYTES = 16 << 20


@dataclass
class Summary:
    stored: int = 0
    present: int = 0
    not_dicom: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        if outcome.kind == STORED:
            self.stored += 1
        elif outcome.kind == PRESENT:
            self.present += 1
        elif outcome.kind == NOT_DICOM:
            self.not_dicom += 1
        else:
            self.failed[outcome.reason or "unknown"] += 1

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def text(self) -> str:
        rate = (self.stored + self.present) / self.seconds if self.seconds > 0 else 0.0
        line = (f"Stored {self.stored}, already present {self.present}, not DICOM "
                f"{self.not_dicom}, failed {self.failures}")
        if self.failed:
            line += " (" + ", ".join(f"{reason}: {count}"
                                     for reason, count in self.failed.most_common()) + ")"
        line += f" in {self.seconds:.1f} s ({rate:.1f} inst/s)."
        if self.interrupted:
            line += " Interrupted: run the same command again to import the rest."
        return line

    def exit_status(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failures else 0


#: Bytes read from a file at a time while it is copied to its target's spool.
CHUNK = 1 << 20


def _read(target: Target, item: Item, index: int) -> tuple[Outcome, Spool | None]:
    """Copy a Part-10 file to a spool of ``target`` (streamed: at most ``target.limit``
    bytes); otherwise the outcome of the file. Nothing about one file raises."""
    if item.problem:
        return Outcome(FAILED, item.problem), None
    limit = target.limit
    too_large = Outcome(FAILED, f"larger than DICOM_MAX_REQUEST_SIZE ({limit} bytes)")
    spool = None
    try:
        with item.open() as stream:
            head = stream.read(HEAD)
            if not is_part10(head):
                return Outcome(NOT_DICOM, "no DICM prefix after a 128-byte preamble"), None
            if limit is not None and item.size > limit:
                return too_large, None
            spool = target.spool(index)
            spool.write(head)
            size = len(head)
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if limit is not None and size > limit:
                    target.discard(spool)
                    return too_large, None
                spool.write(chunk)
    except Exception as exc:  # noqa: BLE001 - corrupt archive member, I/O error: this file
        if spool is not None:
            target.discard(spool)
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Outcome(FAILED, f"unreadable: {text}"), None
    return Outcome(STORED), spool


def _process(target: Target, batch: list[Item]) -> list[tuple[Item, Outcome]]:
    """Read a batch, set aside what is not a Part-10 file or cannot be read, send the rest."""
    results: list[tuple[Item, Outcome] | None] = []
    to_send: list[tuple[Item, Spool]] = []
    try:
        for item in batch:
            outcome, spool = _read(target, item, len(to_send))
            if spool is None:
                results.append((item, outcome))
            else:
                results.append(None)
                to_send.append((item, spool))
        sent = iter(zip([item for item, _ in to_send],
                        target.send(to_send) if to_send else []))
        return [result if result is not None else next(sent) for result in results]
    finally:
        for _, spool in to_send:
            target.discard(spool)


def run(items: Iterable[Item], target: Target, workers: int = 8, report: TextIO | None = None,
        progress: Progress | None = None, batch_files: int = BATCH_FILES,
        batch_bytes: int = BATCH_BYTES) -> Summary:
    """Import ``items`` into ``target``; Ctrl-C stops after the batches in flight."""
    summary = Summary()
    started = time.monotonic()

    def record(future: Future) -> None:
        results = future.result()
        for item, outcome in results:
            summary.add(outcome)
            if report is not None and outcome.kind in (FAILED, NOT_DICOM):
                report.write(json.dumps({"file": item.name, "outcome": outcome.kind,
                                         "reason": outcome.reason}) + "\n")
        if progress is not None:
            progress.advance(len(results), sum(item.size for item, _ in results),
                             sum(1 for _, o in results if o.kind in (STORED, PRESENT)))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import")
    pending: set[Future] = set()
    try:
        for batch in batches(items, batch_files, batch_bytes):
            pending.add(pool.submit(_process, target, batch))
            while len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    record(future)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                record(future)
    except KeyboardInterrupt:
        summary.interrupted = True
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for future in pending:
            if future.done() and not future.cancelled():
                record(future)
    finally:
        pool.shutdown(wait=True)
        summary.seconds = time.monotonic() - started
        if progress is not None:
            progress.close()
    return summary

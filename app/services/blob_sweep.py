"""Blob-store leftovers: files a DELETE released, files no index row references, stale
temporary files (issue #15; docs/operations.md, "Blob sweep").

A file becomes garbage when a store wrote it but its index transaction never committed (a
crash, or a duplicate that lost a race with different bytes): it has no ``blobs`` row. A DELETE
releases a file by setting its row's ``ref_count`` to 0 and removes the file after it commits;
a crash in between leaves the released row for the sweep.

The sweep never deletes a file it finds unreferenced: it moves it into the store's quarantine,
which it purges only after ``quarantine_retention_seconds``. It stops without moving anything
when more than ``max_share`` of the files look unreferenced (a restored or wrong database),
and each file is moved under the lock a store of the same bytes takes (its ``blobs`` row), after
re-checking its age: a store in flight or committing at the same moment is never touched.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from ..blobs import BlobStore
from ..dao import maintenance as dao
from ..db import Database, DbConn
from ..errors import DataStoreError
from .daemon_loop import DaemonLoop

logger = logging.getLogger(__name__)

#: Released files removed per transaction.
_RELEASE_BATCH = 100
#: Keys checked against the index per query.
_CHECK_BATCH = 500
#: A sweep may always quarantine this many files, whatever their share (a small store).
ALWAYS_ALLOWED = 10


@dataclass(frozen=True)
class SweepSettings:
    """How careful a sweep is (settings ``SWEEP_*`` and ``QUARANTINE_RETENTION_SECONDS``)."""

    min_age_seconds: float = 3600.0
    max_share: float = 0.05
    quarantine_retention_seconds: float = 30 * 86400.0

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> "SweepSettings":
        """The settings of a configuration (app/config.py)."""
        return cls(config["SWEEP_MIN_AGE_SECONDS"], config["SWEEP_MAX_SHARE"],
                   config["QUARANTINE_RETENTION_SECONDS"])


@dataclass
class SweepReport:
    """What a sweep found and did (a dry run only finds)."""

    dry_run: bool = False
    files: int = 0
    unreferenced: int = 0
    quarantined: int = 0
    purged: int = 0
    released: int = 0
    temporary: int = 0
    stopped: str | None = None

    def summary(self) -> str:
        if self.dry_run:
            text = (f"{self.files} files; {self.unreferenced} unreferenced and old enough would "
                    f"be quarantined; {self.purged} would be purged from the quarantine.")
        else:
            text = (f"{self.files} files; {self.quarantined} of {self.unreferenced} unreferenced "
                    f"files quarantined; {self.purged} purged from the quarantine; "
                    f"{self.released} released and {self.temporary} temporary files removed.")
        return f"Stopped: {self.stopped} ({text})" if self.stopped else text


def remove_released_files(conn: DbConn, blobs: BlobStore,
                          keys: Sequence[str]) -> tuple[int, int]:
    """Remove the files of released rows (a DELETE's, after it committed); return how many
    and their bytes.

    Each row is removed under its lock, and only if still released (``ref_count`` 0), and its
    file before that transaction commits: a STOW of the same bytes waits for the lock, then
    finds no row and no file, and puts both anew. A failure leaves the rows to the sweep.
    """
    removed = freed = 0
    for first in range(0, len(keys), _RELEASE_BATCH):
        try:
            count = size = 0
            with conn.transaction(write=True):
                for key in dao.remove_released(conn, keys[first:first + _RELEASE_BATCH]):
                    size += _size(blobs, key)
                    blobs.delete(key)
                    count += 1
            removed, freed = removed + count, freed + size
        except DataStoreError as exc:  # the rows stay released: the sweep tries again
            logger.error("Could not remove released files; the blob sweep will: %s", exc)
        except OSError:
            logger.exception("Could not remove released files; the blob sweep will")
    return removed, freed


def sweep_blobs(database: Database, blobs: BlobStore, settings: SweepSettings = SweepSettings(),
                dry_run: bool = False, force: bool = False) -> SweepReport:
    """Finish released files, remove stale temporary files, quarantine unreferenced files,
    purge the quarantine's expired files. ``force``: quarantine even when more than
    ``max_share`` of the files look unreferenced."""
    report = SweepReport(dry_run=dry_run)
    with database.connection() as conn:
        if not dry_run:
            report.released = _finish_released(conn, blobs)
            report.temporary = blobs.remove_stale_temporary(settings.min_age_seconds)
        candidates = _unreferenced(conn, blobs, settings.min_age_seconds, report)
        report.unreferenced = len(candidates)
        allowed = max(ALWAYS_ALLOWED, settings.max_share * report.files)
        if len(candidates) > allowed and not force:
            report.stopped = (
                f"{len(candidates)} of {report.files} files have no index row, more than the "
                f"{settings.max_share:.0%} a sweep may move (DICOM_SWEEP_MAX_SHARE). Is this "
                f"the blob store's own database, and not a restored backup? Nothing was moved; "
                f"`flask blobs sweep --dry-run` counts them, `--force` moves them")
            logger.error("Blob sweep stopped: %s", report.stopped)
            return report
        for key in candidates:
            if dry_run or _quarantine(conn, blobs, key, settings.min_age_seconds):
                report.quarantined += 1
    for key, age in list(blobs.quarantined()):
        if age >= settings.quarantine_retention_seconds:
            if not dry_run:
                blobs.purge_quarantined(key)
            report.purged += 1
    logger.info("Blob sweep: %s", report.summary())
    return report


def _finish_released(conn: DbConn, blobs: BlobStore) -> int:
    """Remove the files of every released row (left by a crash or a failed removal)."""
    removed = 0
    while True:
        with conn.transaction(write=False):
            keys = dao.list_released(conn, _RELEASE_BATCH * 10)
        done, _ = remove_released_files(conn, blobs, keys)
        removed += done
        if len(keys) < _RELEASE_BATCH * 10 or not done:
            return removed


def _unreferenced(conn: DbConn, blobs: BlobStore, min_age_seconds: float,
                  report: SweepReport) -> list[str]:
    """The keys of files without a row and older than ``min_age_seconds``; counts the files."""
    found: list[str] = []
    batch: list[str] = []

    def check() -> None:
        with conn.transaction(write=False):
            referenced = dao.referenced_blob_keys(conn, batch)
        for key in batch:
            if key not in referenced and _age(blobs, key) >= min_age_seconds:
                found.append(key)
        batch.clear()

    for key in blobs.keys():
        report.files += 1
        batch.append(key)
        if len(batch) >= _CHECK_BATCH:
            check()
    if batch:
        check()
    return found


def _size(blobs: BlobStore, key: str) -> int:
    try:
        return blobs.size(key)
    except FileNotFoundError:  # removed already (a removal that did not commit)
        return 0


def _age(blobs: BlobStore, key: str) -> float:
    try:
        return blobs.age(key)
    except FileNotFoundError:  # removed since it was listed
        return -1.0


def _quarantine(conn: DbConn, blobs: BlobStore, key: str, min_age_seconds: float) -> bool:
    """Move one unreferenced file into the quarantine under its row lock, after checking again
    that no row references it and that no store refreshed it; False if it stays."""
    try:
        with conn.transaction(write=True):
            if not dao.claim_unreferenced(conn, key, datetime.now(timezone.utc)):
                return False  # a store references it now
            moved = _age(blobs, key) >= min_age_seconds and blobs.quarantine(key)
            dao.remove_released(conn, [key])  # the claim's row
        if moved:
            logger.warning("Blob sweep quarantined unreferenced file %s", key)
        return moved
    except DataStoreError as exc:
        logger.error("Could not quarantine file %s: %s", key, exc)
        return False
    except OSError:
        logger.exception("Could not quarantine file %s", key)
        return False


#: A node sweeps when no node started a sweep in this share of the interval (timers of nodes
#: started at different times drift apart; a sweep is never skipped for a whole interval).
_DUE_SHARE = 0.9


def claim_periodic_sweep(database: Database, interval_seconds: float) -> bool:
    """Whether this node runs this interval's periodic sweep: with several nodes on one
    database the first whose timer fires claims it, the others skip it (a bucket is listed
    once per interval, not once per node)."""
    now = datetime.now(timezone.utc)
    with database.connection() as conn:
        with conn.transaction(write=True):
            return dao.claim_periodic_sweep(
                conn, now, now - timedelta(seconds=interval_seconds * _DUE_SHARE))


class PeriodicSweep(DaemonLoop):
    """A daemon thread that sweeps every ``interval_seconds`` (first at once if ``at_start``),
    unless another node sweeping the same database did so meanwhile."""

    def __init__(self, database: Database, blobs: BlobStore, settings: SweepSettings,
                 interval_seconds: float, at_start: bool) -> None:
        super().__init__("blob-sweep")
        self._args = (database, blobs, settings)
        self.interval_seconds = interval_seconds
        self.at_start = at_start
        #: Whether a sweep is running now (not only the thread waiting for its next one).
        self.sweeping = False

    def _loop(self) -> None:
        wait = 0.0 if self.at_start else self.interval_seconds
        while self.interval_seconds > 0 or wait == 0.0:
            if self._stop.wait(wait):
                return
            try:
                if wait == 0.0 or claim_periodic_sweep(self._args[0], self.interval_seconds):
                    self.sweeping = True
                    try:
                        sweep_blobs(*self._args)
                    finally:
                        self.sweeping = False
                else:
                    logger.info("Blob sweep skipped: another node swept in the last %.0f s",
                                self.interval_seconds * _DUE_SHARE)
            except DataStoreError as exc:  # the store or the database is down: one line
                logger.error("Blob sweep failed: %s", exc)
            except Exception:  # a failed sweep must never stop the server
                logger.exception("Blob sweep failed")
            if self.interval_seconds <= 0:
                return
            wait = self.interval_seconds

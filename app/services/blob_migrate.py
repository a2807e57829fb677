"""Copy one blob store into another: a filesystem store into the configured bucket (issue
#17, ``flask --app wsgi blobs migrate``; docs/scale-out.md "Moving an archive").

Every file of the source is spooled (which hashes it: a file whose bytes no longer hash to its
name is reported as damaged and not copied), put into the target, and read back from it and
hashed: only an object that reads back as its key counts as copied. The store identity is
copied last. The copy can be stopped and run again: objects the target already holds and a
previous run verified (its journal, a file beside the source's blobs) are skipped; objects
the target holds without that record are read back and hashed once, and copied again if they
are wrong. So a user copies while the server runs on the source, then stops it, runs the
copy once more (only what was stored meanwhile) and starts on the target.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..blobs import BlobStore, iter_file

logger = logging.getLogger(__name__)

#: Keys handed to the workers at a time (bounds the futures held in memory).
_SLICE = 1000


class StoreIdentityConflict(RuntimeError):
    """The target already belongs to another store (its identity differs from the source's)."""


@dataclass
class MigrateReport:
    """What a copy found and did."""

    files: int = 0
    bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    #: Already in the target and verified (by an earlier run, or read back now).
    skipped: int = 0
    #: Source files whose bytes no longer hash to their name: not copied.
    damaged: list[str] = field(default_factory=list)
    #: Objects that did not read back as their key after the copy, or could not be copied.
    failed: list[str] = field(default_factory=list)
    #: Source files listed but gone before they were copied (a delete or a sweep meanwhile).
    vanished: int = 0
    quarantined: int = 0
    identity: str | None = None

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.failed

    def summary(self) -> str:
        lines = [f"{self.files} files ({self.bytes / 1e6:,.1f} MB) in the source: "
                 f"{self.copied} copied ({self.copied_bytes / 1e6:,.1f} MB) and verified, "
                 f"{self.skipped} already in the target and verified, "
                 f"{len(self.failed)} failed, {len(self.damaged)} damaged in the source, "
                 f"{self.vanished} removed from the source meanwhile."]
        lines += [f"failed: {key}" for key in self.failed]
        lines += [f"damaged (bytes do not hash to the name; not copied): {key}"
                  for key in self.damaged]
        if self.quarantined:
            lines.append(f"{self.quarantined} quarantined files were not copied (they stay "
                         f"in the source's quarantine).")
        lines.append(f"Store identity {self.identity} copied." if self.identity else
                     "The source has no store identity: none copied.")
        return "\n".join(lines)


class _Journal:
    """Keys verified in the target, one per line, appended as they are (a lost line only
    costs reading that object back once more)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.keys: set[str] = set()
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            if path.exists():
                self.keys = {line.strip() for line in path.read_text().splitlines()
                             if line.strip()}
            self._file = path.open("a")

    def add(self, key: str) -> None:
        if self._file is not None:
            with self._lock:
                self._file.write(key + "\n")
                self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def journal_name(target: BlobStore) -> str:
    """The journal's file name for copies into ``target`` (one per bucket and prefix)."""
    return f".migrated-{hashlib.sha256(repr(target).encode()).hexdigest()[:16]}"


def plan(source: BlobStore) -> tuple[list[str], int]:
    """The source's keys and their total size (for the progress bar)."""
    keys, total = [], 0
    for key in source.keys():
        try:
            total += source.size(key)
        except FileNotFoundError:
            continue
        keys.append(key)
    return keys, total


def migrate_blobs(source: BlobStore, target: BlobStore, keys: list[str],
                  journal: Path | None = None, workers: int = 8,
                  progress: Callable[[int], None] = lambda size: None) -> MigrateReport:
    """Copy ``keys`` (``plan``) of ``source`` into ``target``, then the store identity.

    ``journal``: the file recording verified keys (resume); ``progress(size)`` after each
    file. Raises StoreIdentityConflict when the target belongs to another store.
    """
    source_identity = source.identity()
    target_identity = target.identity()
    if source_identity and target_identity and source_identity != target_identity:
        raise StoreIdentityConflict(
            f"The target belongs to store {target_identity}, the source to store "
            f"{source_identity}: they are not one archive. Use an empty bucket or prefix.")
    report = MigrateReport(files=len(keys))
    present = set(target.keys())
    record = _Journal(journal)
    lock = threading.Lock()

    def one(key: str) -> None:
        outcome, size = _copy_one(source, target, key, key in present,
                                  key in present and key in record.keys)
        with lock:
            report.bytes += size
            if outcome in ("copied", "verified", "known"):
                if outcome == "copied":
                    report.copied += 1
                    report.copied_bytes += size
                else:
                    report.skipped += 1
                if outcome != "known":
                    record.add(key)
            elif outcome == "damaged":
                report.damaged.append(key)
            elif outcome == "vanished":
                report.vanished += 1
            else:
                report.failed.append(key)
            progress(size)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for first in range(0, len(keys), _SLICE):
                list(pool.map(one, keys[first:first + _SLICE]))
    finally:
        record.close()
    report.quarantined = sum(1 for _ in source.quarantined())
    if source_identity:
        stored = target.set_identity(source_identity)
        if stored != source_identity:
            raise StoreIdentityConflict(
                f"The target took store identity {stored} meanwhile, not the source's "
                f"{source_identity}.")
        report.identity = source_identity
    logger.info("Blob migrate: %s", report.summary().splitlines()[0])
    return report


def _copy_one(source: BlobStore, target: BlobStore, key: str, present: bool,
              known: bool) -> tuple[str, int]:
    """(outcome, size) of one key: known (verified by an earlier run), verified (in the
    target, read back now), copied, damaged, vanished or failed."""
    try:
        size = source.size(key)
    except FileNotFoundError:
        return "vanished", 0
    if known:
        return "known", size
    try:
        if present and _reads_back(target, key):
            return "verified", size
        with target.spool() as spool:
            try:
                with source.open(key) as handle:
                    for chunk in iter_file(handle):
                        spool.write(chunk)
            except FileNotFoundError:
                return "vanished", 0
            spool.finish()
            if spool.key != key:
                logger.error("Blob migrate: source file %s is damaged (its bytes hash to %s)",
                             key, spool.key)
                return "damaged", size
            if present:  # there, but wrong: remove it so the put writes it anew
                target.delete(key)
            target.put(spool)
        if not _reads_back(target, key):
            logger.error("Blob migrate: %s reads back wrong from the target", key)
            return "failed", size
        return "copied", size
    except Exception:  # one object's failure is reported; the copy goes on
        logger.exception("Blob migrate: copying %s failed", key)
        return "failed", size


def _reads_back(target: BlobStore, key: str) -> bool:
    try:
        return target.content_key(key) == key
    except FileNotFoundError:
        return False


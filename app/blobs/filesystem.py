"""Blobs as files under a root directory: content-addressed by SHA-256, atomic and durable
writes (decisions §3).

Files live at ``<root>/<k[0:2]>/<k>`` (``<root>/<k[0:2]>/<k[2:4]>/<k>`` in a store created before
that layout: see ``FileSystemBlobStore``). A write goes to a temporary file in
``<root>/.tmp``, is fsynced, then linked into place (and the directory fsynced), so a file is
either absent or complete.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

from .base import KEY, BlobStore, checked_key, remove_old_files
from .spool import SpoolFile


#: ``<root>/.layout`` names the store's directory layout. Two levels of 256 directories made a
#: new directory (a mkdir and one more directory fsync) for most of a store's first ~100,000
#: files; 256 directories exist after ~1,500 files, and ext4/xfs index large directories
#: (39,000 files each at 10 million). A store created with two levels keeps them.
LAYOUT_FILE = ".layout"
LAYOUT_TWO_LEVELS, LAYOUT_FLAT = 1, 2
#: ``<root>/.store-id``: the store identity (the database holds the same, issue #15).
IDENTITY_FILE = ".store-id"
#: ``<root>/.quarantine/<key>``: files the sweep moved out of the store, until purged.
QUARANTINE_DIR = ".quarantine"


class FileSystemBlobStore(BlobStore):
    """Blobs as files under a root directory."""

    kind = "filesystem"

    def __init__(self, root: str | os.PathLike[str], fsync: bool = True) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self.quarantine_dir = self.root / QUARANTINE_DIR
        self._root, self._tmp = str(self.root), str(self.tmp)  # strings for the hot paths
        self.fsync = fsync
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.layout = self._layout()
        self._pattern = "??/??/*" if self.layout == LAYOUT_TWO_LEVELS else "??/*"

    def _layout(self) -> int:
        """The store's layout, from ``<root>/.layout``; a store without one gets the flat
        layout if it is new, the two-level one if it already holds files that way."""
        marker = self.root / LAYOUT_FILE
        if not marker.exists():
            legacy = next(self.root.glob("??/??"), None) is not None
            self._write_once(marker, f"{LAYOUT_TWO_LEVELS if legacy else LAYOUT_FLAT}\n")
        text = marker.read_text().strip()
        if text not in (str(LAYOUT_TWO_LEVELS), str(LAYOUT_FLAT)):
            raise ValueError(f"{marker}: unknown blob store layout {text!r}")
        return int(text)

    def _write_once(self, target: Path, text: str) -> None:
        """Write a small file durably unless it exists: atomically, and only one of several
        servers starting at once wins."""
        with self.spool() as spool:
            spool.write(text.encode())
            spool.finish()
            spool.sync()
            try:
                os.link(spool.name, target)
            except FileExistsError:
                pass
            else:
                self._fsync_dir(target.parent)

    def path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        checked_key(key)
        if self.layout == LAYOUT_FLAT:
            return f"{self._root}/{key[:2]}/{key}"
        return f"{self._root}/{key[:2]}/{key[2:4]}/{key}"

    def spool(self, head_size: int = 0) -> SpoolFile:
        return SpoolFile(self._tmp, self.fsync, head_size)

    def _fsync_dir(self, directory: str | Path) -> None:
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, spool: SpoolFile) -> bool:
        target = self._file(spool.key)
        directory = os.path.dirname(target)
        if self._refresh(target):
            # Already there, but perhaps only just linked by a concurrent put that has not
            # fsynced the directory yet: make the entry durable before the caller commits.
            self._fsync_dir(directory)
            return False
        spool.sync()
        # Link the spool's (complete, durable) file into place: the name appears atomically,
        # and the spool stays usable by its owner. A racing put of the same key linked the
        # same bytes first: nothing to do.
        try:
            os.link(spool.name, target)
        except FileNotFoundError:  # the first file under this prefix: make its directories
            parent = os.path.dirname(directory)
            created = [d for d in (parent, directory) if not os.path.exists(d)]
            os.makedirs(directory, exist_ok=True)
            for made in created:  # a new directory's own entry must be durable too
                self._fsync_dir(os.path.dirname(made))
            try:
                os.link(spool.name, target)
            except FileExistsError:  # a concurrent put of the same bytes linked it first
                self._refresh(target)
                self._fsync_dir(directory)
                return False
        except FileExistsError:
            self._refresh(target)
            self._fsync_dir(directory)
            return False
        self._fsync_dir(directory)
        return True

    @staticmethod
    def _refresh(target: str) -> bool:
        """Make an existing file young again (False if there is none): a store that reuses an
        old unreferenced file is then outside the sweep's age margin (issue #15)."""
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        return True

    def open(self, key: str) -> BinaryIO:
        return open(self._file(key), "rb")

    def open_range(self, key: str, offset: int, length: int,
                   size: int | None = None) -> BinaryIO:
        # Unbuffered: each read of the range is one read() of the file (a buffered reader
        # splits a large read in two and asks whether the file is a terminal first).
        handle = open(self._file(key), "rb", buffering=0)
        if offset:
            handle.seek(offset)
        return handle  # type: ignore[return-value]

    def open_seekable(self, key: str, size: int | None = None) -> BinaryIO:
        return open(self._file(key), "rb")

    def exists(self, key: str) -> bool:
        return os.path.exists(self._file(key))

    def size(self, key: str) -> int:
        return os.stat(self._file(key)).st_size

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self) -> Iterator[str]:
        for path in self.root.glob(self._pattern):
            if KEY.fullmatch(path.name):
                yield path.name

    def age(self, key: str) -> float:
        return time.time() - os.stat(self._file(key)).st_mtime

    def remove_stale_temporary(self, min_age_seconds: float) -> int:
        return remove_old_files(self.tmp, time.time() - min_age_seconds)

    def _quarantined(self, key: str) -> Path:
        checked_key(key)
        return self.quarantine_dir / key

    def quarantine(self, key: str) -> bool:
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self._quarantined(key)
        try:
            os.rename(self._file(key), target)
        except FileNotFoundError:
            return False
        os.utime(target)  # its age in the quarantine starts now
        self._fsync_dir(self.quarantine_dir)
        self._fsync_dir(os.path.dirname(self._file(key)))
        return True

    def quarantined(self) -> Iterator[tuple[str, float]]:
        if not self.quarantine_dir.is_dir():
            return
        now = time.time()
        for path in self.quarantine_dir.iterdir():
            if KEY.fullmatch(path.name):
                try:
                    yield path.name, now - path.stat().st_mtime
                except FileNotFoundError:
                    continue

    def purge_quarantined(self, key: str) -> None:
        try:
            self._quarantined(key).unlink()
        except FileNotFoundError:
            pass

    def restore_quarantined(self, key: str) -> bool:
        source, target = self._quarantined(key), self._file(key)
        if not source.exists():
            return False
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:  # stored again meanwhile: the same bytes
            pass
        self._fsync_dir(os.path.dirname(target))
        source.unlink()
        return True

    def identity(self) -> str | None:
        try:
            return (self.root / IDENTITY_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def set_identity(self, identity: str) -> str:
        self._write_once(self.root / IDENTITY_FILE, f"{identity}\n")
        return self.identity() or identity

    def check(self, min_free_bytes: int = 0) -> None:
        stats = os.statvfs(self._tmp)
        free = stats.f_bavail * stats.f_frsize
        if free < min_free_bytes:
            raise OSError(f"only {free} bytes free, below the {min_free_bytes} bytes of "
                          "DICOM_HEALTH_MIN_FREE_BYTES")
        probe = self.tmp / f"health-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        try:
            if probe.read_bytes() != b"ok":
                raise OSError("blob store read back different bytes")
        finally:
            probe.unlink()

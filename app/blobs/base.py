"""The blob store interface: what the store, retrieve, delete and maintenance paths need from
a place that keeps DICOM files, so a second backend (object storage) can stand in for the file
system (``filesystem.py``).

Blobs are content-addressed: a blob's key is the SHA-256 of its bytes (hex). The index decides
when a blob is unreferenced; the store only spools, puts, opens, deletes and quarantines.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from .spool import SpoolFile

CHUNK = 1024 * 1024
#: A blob key: the SHA-256 hex digest of the blob's bytes.
KEY = re.compile(r"[0-9a-f]{64}")


def checked_key(key: str) -> str:
    """``key`` if it is a blob key; ValueError otherwise (a key becomes a path or object name:
    nothing else may)."""
    if not KEY.fullmatch(key):
        raise ValueError("blob keys are SHA-256 hex digests")
    return key


class BlobStore:
    """Interface of a content-addressed blob store."""

    #: The backend's name (health, logs): "filesystem" or "s3".
    kind = ""
    #: A local directory for temporary files (spools, transcodes).
    tmp: Path
    #: What the health check calls it.
    description = "Blob store"
    #: Whether ``exists`` costs next to nothing (a stat), so a retrieve of many instances
    #: checks every file before its response starts; in object storage it is a request each.
    cheap_exists = True
    #: How many blobs a response streaming several opens ahead of the one it sends (object
    #: storage: each open is a GET whose round trip then overlaps with sending; a file's open
    #: costs nothing to overlap).
    open_ahead = 0

    def spool(self, head_size: int = 0) -> SpoolFile:
        """A temporary file to write an incoming blob to while hashing it (keeping its first
        ``head_size`` bytes in memory too)."""
        raise NotImplementedError

    def put(self, spool: SpoolFile) -> bool:
        """Make the spooled bytes durable under their key; False if they were already present."""
        raise NotImplementedError

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (tests and tools); return the key."""
        with self.spool() as spool:
            spool.write(data)
            spool.finish()
            self.put(spool)
            return spool.key

    def open(self, key: str) -> BinaryIO:
        """A handle to read the blob's bytes sequentially (FileNotFoundError if there is
        none)."""
        raise NotImplementedError

    def open_range(self, key: str, offset: int, length: int,
                   size: int | None = None) -> BinaryIO:
        """A handle to read ``length`` bytes of the blob from ``offset`` sequentially (a
        ranged GET in object storage; FileNotFoundError if there is none). ``size``: the
        blob's size when the caller knows it (a read cache checks its copy against it)."""
        raise NotImplementedError

    def open_seekable(self, key: str, size: int | None = None) -> BinaryIO:
        """A seekable read handle (header parsing, frames): in object storage each read past
        its buffer is a ranged GET, so a frame costs its own bytes, not the file's. ``size``:
        the blob's size when the caller knows it."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def local(self, key: str) -> bool:
        """Whether opening the blob costs no request (a file, or a cached copy)."""
        return True

    def size(self, key: str) -> int:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the blob (nothing happens if it is gone already)."""
        raise NotImplementedError

    def keys(self) -> Iterator[str]:
        """Every stored key (maintenance)."""
        raise NotImplementedError

    def content_key(self, key: str) -> str:
        """The key the bytes of blob ``key`` hash to now (``key`` unless they changed)."""
        digest = hashlib.sha256()
        with self.open(key) as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def age(self, key: str) -> float:
        """Seconds since the blob was written or last refreshed (a put of bytes already
        present refreshes it); FileNotFoundError if there is none."""
        raise NotImplementedError

    def remove_stale_temporary(self, min_age_seconds: float) -> int:
        """Remove temporary (spool) files older than ``min_age_seconds``; return the count."""
        raise NotImplementedError

    # The blob sweep (services/maintenance.py) never deletes a blob: it moves it out of the
    # store into a quarantine (a folder here, a key prefix in object storage), which it purges
    # only after a retention period.

    def quarantine(self, key: str) -> bool:
        """Move the blob into the quarantine; False if it is gone."""
        raise NotImplementedError

    def quarantined(self) -> Iterator[tuple[str, float]]:
        """The quarantined keys, each with the seconds since it was quarantined."""
        raise NotImplementedError

    def purge_quarantined(self, key: str) -> None:
        """Remove a quarantined blob for good (nothing happens if it is gone)."""
        raise NotImplementedError

    def restore_quarantined(self, key: str) -> bool:
        """Move a quarantined blob back into the store; False if it is not quarantined."""
        raise NotImplementedError

    def identity(self) -> str | None:
        """The store identity written into the store on first start (None before)."""
        raise NotImplementedError

    def set_identity(self, identity: str) -> str:
        """Write the store identity unless the store has one; return the one it has."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop open connections (before a fork: a child must not share its parent's); the
        store opens new ones when used again."""

    def check(self, min_free_bytes: int = 0) -> None:
        """Raise if the store cannot be written and read, or has less than ``min_free_bytes``
        of room left (it could not take the next instances)."""
        raise NotImplementedError


def remove_old_files(directory: Path, cutoff: float) -> int:
    """Remove the files of ``directory`` last modified before ``cutoff``; return the count."""
    removed = 0
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def iter_file(handle: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield a file's bytes in chunks, closing it at the end."""
    try:
        while True:
            data = handle.read(chunk)
            if not data:
                break
            yield data
    finally:
        handle.close()

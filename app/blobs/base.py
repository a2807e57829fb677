"""The blob store interface: what the store, retrieve, delete and maintenance paths need from
a place that keeps DICOM files, so a second backend (object storage) can stand in for the file
system (``filesystem.py``).

Blobs are content-addressed: a blob's key is the SHA-256 of its bytes (hex). The index decides
when a blob is unreferenced; the store only spools, puts, opens and deletes.
"""
from __future__ import annotations

import hashlib
import re
from typing import BinaryIO, Callable, Iterable, Iterator

from .spool import SpoolFile

CHUNK = 1024 * 1024
#: A blob key: the SHA-256 hex digest of the blob's bytes.
KEY = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Interface of a content-addressed blob store."""

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
        """A read handle on the blob's bytes (FileNotFoundError if there is none)."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

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

    def sweep(self, is_referenced: Callable[[Iterable[str]], set[str]],
              min_age_seconds: float = 3600) -> int:
        """Remove stale temporary files and blobs no index row references; return the count.

        ``is_referenced`` gets a batch of keys and returns those still referenced. Only what
        is older than ``min_age_seconds`` is touched, so a store in flight is never swept.
        """
        raise NotImplementedError

    def check(self, min_free_bytes: int = 0) -> None:
        """Raise if the store cannot be written and read, or has less than ``min_free_bytes``
        of room left (it could not take the next instances)."""
        raise NotImplementedError


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

"""The S3 blob store with a node-local read cache (``read_cache.py``; decisions "S3 read
cache"): a blob read whole is written through to the cache as it streams; a blob read in part
(a frame, a header, bulk data) is fetched whole into the cache first, then read from the
file; a STOW's spool is linked in (write-through). Blobs larger than the cache's
``fill_max_bytes`` are read from the bucket as before. This node's deletes and quarantines
drop the cached copy; the periodic cache check (services/blob_cache.py) drops those other
nodes deleted.
"""
from __future__ import annotations

import io
from typing import Any, BinaryIO

from .read_cache import ReadCache
from .s3 import S3BlobStore
from .spool import SpoolFile


class CachedS3BlobStore(S3BlobStore):
    """An S3 blob store reading through a ``ReadCache``."""

    def __init__(self, *args: Any, cache: ReadCache, write_through: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache
        self.write_through = write_through

    def __repr__(self) -> str:
        return f"CachedS3BlobStore(s3://{self.bucket}/{self.prefix}, {self.cache!r})"

    def put(self, spool: SpoolFile) -> bool:
        added = super().put(spool)
        if self.write_through:
            self.cache.add(spool.key, spool.name, spool.size)
        return added

    def _whole(self, key: str, size: int) -> BinaryIO:
        return S3BlobStore.open_range(self, key, 0, size)

    def open_range(self, key: str, offset: int, length: int,
                   size: int | None = None) -> BinaryIO:
        if length <= 0 or not self.cache.cacheable(size):
            return super().open_range(key, offset, length)
        assert size is not None
        handle = self.cache.open(key, size)
        if handle is None:
            if offset == 0 and length == size:  # streamed whole: written through as it goes
                return self.cache.tee(key, size, self._whole(key, size))
            handle = self.cache.fill(key, size, lambda: self._whole(key, size))
            if handle is None:  # the bucket's bytes are not the key's: not cached
                return super().open_range(key, offset, length)
        if offset:
            handle.seek(offset)
        if offset + length < size:
            return _Window(handle, length)  # type: ignore[return-value]
        return handle

    def open_seekable(self, key: str, size: int | None = None) -> BinaryIO:
        if self.cache.cacheable(size):
            assert size is not None
            handle = self.cache.open(key, size, buffered=True) or self.cache.fill(
                key, size, lambda: self._whole(key, size), buffered=True)
            if handle is not None:
                return handle
        return super().open_seekable(key, size)

    def local(self, key: str) -> bool:
        return self.cache.holds(key)

    def delete(self, key: str) -> None:
        self.cache.drop(key)
        super().delete(key)

    def quarantine(self, key: str) -> bool:
        self.cache.drop(key)
        return super().quarantine(key)


class _Window(io.RawIOBase):
    """The first ``length`` bytes of a handle from where it is (a part of a cached blob)."""

    def __init__(self, handle: BinaryIO, length: int) -> None:
        super().__init__()
        self.handle, self.left = handle, length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self.handle.read(size) if size else b""
        self.left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.handle.close()
        super().close()

"""A node-local read cache of an object store's blobs (issue #17; decisions "S3 read cache").

Blob keys are content-addressed: the bytes under a key never change, so a cached copy is never
stale. The index still decides what exists (retrieve looks instances up before it opens a
blob), and the cache only saves the GET. Files live at ``<directory>/<k[0:2]>/<k>``; a fill
is written to ``<directory>/.tmp``, its SHA-256 checked against the key while it is written,
and only then renamed into place, so a name in the cache always holds the whole, verified
bytes. A hit is trusted by its key, after checking its size against the index's (a file cut
short or grown is dropped, never served).

Bounds: at most ``max_bytes`` (least recently used files go first: a hit sets the file's access
time; the modification time stays the time it was filled), and no file older than
``max_age_seconds`` since its fill is served or kept. Every process of a node shares the
directory: fills are atomic renames, eviction tolerates files another process removed, and
each process rescans the directory after adding a tenth of the bound, so the directory
exceeds the bound by at most a tenth of it per server process.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .base import KEY, checked_key

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process check lock (each process may check)
    fcntl = None  # type: ignore[assignment]

_CHUNK = 1024 * 1024
#: Eviction brings the directory down to this share of the bound (not one file at a time).
_LOW_WATER = 0.9
#: A hit refreshes the file's access time when it is older than this (seconds).
_TOUCH_AFTER = 10.0
_STRIPES = 64


class ReadCache:
    """Verified copies of blobs in a local directory, bounded in bytes and age."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int,
                 max_age_seconds: float, fill_max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        #: Larger blobs are never cached (read by ranged GETs instead).
        self.fill_max_bytes = min(fill_max_bytes, max_bytes)
        self.tmp = self.directory / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._root, self._tmp = str(self.directory), str(self.tmp)
        self._total: int | None = None  # bytes at the last scan plus this process's fills
        self._added = 0  # bytes this process filled since its last scan
        self._scan_lock = threading.Lock()
        self._teeing: set[str] = set()  # keys this process writes through now
        self._fill_locks = [threading.Lock() for _ in range(_STRIPES)]

    def __repr__(self) -> str:
        return f"ReadCache({self._root}, {self.max_bytes} bytes)"

    def _path(self, key: str) -> str:
        checked_key(key)
        return f"{self._root}/{key[:2]}/{key}"

    def cacheable(self, size: int | None) -> bool:
        return size is not None and 0 < size <= self.fill_max_bytes

    # -- reading --

    def open(self, key: str, size: int, buffered: bool = False) -> BinaryIO | None:
        """A handle on the cached blob (unbuffered unless ``buffered``), or None: not cached,
        or a file of another size than ``size`` or past its age (dropped)."""
        path = self._path(key)
        try:
            handle = open(path, "rb", buffering=-1 if buffered else 0)
        except OSError:  # not cached (or the cache's disk fails: read from the bucket)
            return None
        try:
            stat = os.fstat(handle.fileno())
            now = time.time()
            if stat.st_size != size or now - stat.st_mtime > self.max_age_seconds:
                handle.close()
                self._remove(path)
                return None
            if now - stat.st_atime > _TOUCH_AFTER:  # least recently used goes first
                os.utime(handle.fileno(), ns=(time.time_ns(), stat.st_mtime_ns))
        except BaseException:
            handle.close()
            raise
        return handle  # type: ignore[return-value]

    def holds(self, key: str) -> bool:
        """Whether the cache has a copy of the blob young enough to be served (a stat; its
        size is checked when it is opened)."""
        try:
            return time.time() - os.stat(self._path(key)).st_mtime <= self.max_age_seconds
        except OSError:
            return False

    def fill(self, key: str, size: int, fetch: Callable[[], BinaryIO],
             buffered: bool = False) -> BinaryIO | None:
        """The cached blob, fetched whole first if it is not cached (``fetch``: a handle on
        all its bytes); None if the fetched bytes are not the key's (not cached, not served).
        Threads filling the same key wait for the first one."""
        with self._fill_locks[int(key[:4], 16) % _STRIPES]:
            handle = self.open(key, size, buffered)
            if handle is not None:
                return handle
            writer = self._writer(key, size)
            if writer is None:
                return None
            with writer, fetch() as source:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    writer.write(chunk)
            return self.open(key, size, buffered) if writer.kept else None

    def tee(self, key: str, size: int, source: BinaryIO) -> BinaryIO:
        """``source`` (all of the blob's bytes), read through: what the reader reads is
        written to the cache, and kept once all ``size`` bytes are read and verified. A key
        this process is filling already is not filled twice at once."""
        with self._scan_lock:
            if key in self._teeing:
                return source
            self._teeing.add(key)
        writer = self._writer(key, size)
        if writer is None:
            self._teeing.discard(key)
            return source
        return _Tee(source, writer)  # type: ignore[return-value]

    def _writer(self, key: str, size: int) -> "_Writer | None":
        """A new fill, or None when the cache's disk refuses it (the read goes on uncached;
        a removed temporary folder is made again)."""
        for _ in range(2):
            try:
                return _Writer(self, key, size)
            except FileNotFoundError:
                self.tmp.mkdir(parents=True, exist_ok=True)
            except OSError:
                return None
        return None

    # -- adding and removing --

    def add(self, key: str, spooled: str, size: int) -> None:
        """Cache a file the caller verified holds the key's bytes (a STOW's spool: hashed as
        it was written), by a hard link; nothing happens if it cannot be linked."""
        if not self.cacheable(size):
            return
        path = self._path(key)
        name = self._temporary_name()
        try:
            os.link(spooled, name)
            self._place(name, path, size)
        except OSError:
            self._remove(name)

    def drop(self, key: str) -> None:
        """Forget the blob (this node deleted or quarantined it)."""
        self._remove(self._path(key))

    def keys(self) -> Iterator[str]:
        for _, _, _, path in self._entries():
            yield os.path.basename(path)

    def check(self, live: Callable[[list[str]], set[str]], batch: int = 500) -> int:
        """Drop the files past their age and those whose keys ``live`` (the index) does not
        report as referenced; one process of a node at a time (a lock file). The count."""
        with _exclusive(f"{self._root}/.check.lock") as mine:
            if not mine:
                return 0
            dropped = 0
            cutoff = time.time() - self.max_age_seconds
            pending: list[tuple[str, str]] = []
            for _, mtime, _, path in self._entries():
                if mtime < cutoff:
                    dropped += self._remove(path)
                else:
                    pending.append((os.path.basename(path), path))
            for first in range(0, len(pending), batch):
                chunk = pending[first:first + batch]
                referenced = live([key for key, _ in chunk])
                dropped += sum(self._remove(path) for key, path in chunk
                               if key not in referenced)
            self._remove_stale_temporary()
            return dropped

    def _temporary_name(self) -> str:
        return f"{self._tmp}/fill-{secrets.token_hex(8)}"

    def _place(self, name: str, path: str, size: int) -> None:
        """Rename a complete, verified file into place and count it against the bound."""
        try:
            os.rename(name, path)
        except FileNotFoundError:  # the first file under this prefix
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.rename(name, path)
        self._count(size)

    @staticmethod
    def _remove(path: str) -> int:
        try:
            os.unlink(path)
            return 1
        except FileNotFoundError:
            return 0

    # -- the bound --

    def _count(self, size: int) -> None:
        with self._scan_lock:
            self._added += size
            if self._total is not None:
                self._total += size
            due = (self._total is None or self._total > self.max_bytes
                   or self._added > self.max_bytes / 10)
        if due:
            self.evict()

    def _entries(self) -> Iterator[tuple[float, float, int, str]]:
        """(access time, modification time, size, path) of every cached file."""
        try:
            prefixes = list(os.scandir(self._root))
        except FileNotFoundError:
            return
        for prefix in prefixes:
            if len(prefix.name) != 2 or not prefix.is_dir():
                continue
            try:
                files = list(os.scandir(prefix.path))
            except FileNotFoundError:
                continue
            for entry in files:
                if not KEY.fullmatch(entry.name):
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                yield stat.st_atime, stat.st_mtime, stat.st_size, entry.path

    def evict(self) -> int:
        """Scan the directory; drop the files past their age, then the least recently used
        ones until it holds at most ``_LOW_WATER`` of the bound. The bytes it holds then."""
        if not self._scan_lock.acquire(blocking=False):
            return self._total or 0
        try:
            cutoff = time.time() - self.max_age_seconds
            entries, total = [], 0
            for atime, mtime, size, path in self._entries():
                if mtime < cutoff:
                    self._remove(path)
                    continue
                entries.append((atime, size, path))
                total += size
            if total > self.max_bytes:
                entries.sort()
                for _, size, path in entries:
                    if total <= self.max_bytes * _LOW_WATER:
                        break
                    self._remove(path)
                    total -= size
            self._total, self._added = total, 0
            return total
        finally:
            self._scan_lock.release()

    def _remove_stale_temporary(self) -> None:
        """Fills a crashed process left behind (an hour old: no fill takes that long)."""
        cutoff = time.time() - 3600
        for entry in os.scandir(self._tmp):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue


class _exclusive:
    """A non-blocking exclusive lock on a file: ``with _exclusive(path) as mine``."""

    def __init__(self, path: str) -> None:
        self.path, self.fd = path, -1

    def __enter__(self) -> bool:
        if fcntl is None:
            return True
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                          0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = -1
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the lock


class _Writer:
    """A fill in progress: a temporary file hashed as it is written, renamed into place only
    if it holds exactly ``size`` bytes hashing to the key; removed otherwise."""

    def __init__(self, cache: ReadCache, key: str, size: int) -> None:
        self.cache, self.key, self.size = cache, key, size
        self.name = cache._temporary_name()
        self.file = open(self.name, "wb", buffering=0)
        self.digest = hashlib.sha256()
        self.written = 0
        self.kept = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.size:
            raise OSError(f"blob {self.key} has more bytes than its {self.size}")
        self.digest.update(data)
        self.file.write(data)

    def finish(self) -> None:
        """Keep the file if it is complete and verified; else drop it."""
        if self.file.closed:
            return
        self.cache._teeing.discard(self.key)
        try:
            self.file.close()
            if self.written == self.size and self.digest.hexdigest() == self.key:
                self.cache._place(self.name, self.cache._path(self.key), self.size)
                self.kept = True
        except OSError:  # the cache's disk: nothing cached
            pass
        if not self.kept:
            ReadCache._remove(self.name)

    def __enter__(self) -> "_Writer":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None:
            self.written = -1  # an interrupted fill is never kept
        self.finish()


class _Tee:
    """A sequential handle that writes what it reads to a fill; the fill is kept when the last
    byte is read (a reader that stops early, or a failing write, leaves nothing cached)."""

    def __init__(self, source: BinaryIO, writer: _Writer) -> None:
        self.source, self.writer = source, writer
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        if not self.writer.file.closed:
            try:
                self.writer.write(data)
                if self.writer.written == self.writer.size:
                    self.writer.finish()
            except (OSError, ValueError):  # the cache's disk: the read goes on uncached
                self.writer.written = -1
                self.writer.finish()
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if not self.writer.file.closed:
                self.writer.written = -1
                self.writer.finish()
            self.source.close()

    def __enter__(self) -> "_Tee":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""File blob store: content-addressed by SHA-256, atomic and durable writes (decisions §3).

Files live at ``<root>/<k[0:2]>/<k>`` (``<root>/<k[0:2]>/<k[2:4]>/<k>`` in a store created before
that layout: see ``FileSystemBlobStore``). A write goes to a temporary file in
``<root>/.tmp``, is fsynced, then linked into place (and the directory fsynced), so a file is
either absent or complete. The index decides when a file is unreferenced; the store only puts,
opens and deletes. ``BlobStore`` is the interface an object store would implement.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import os
import re
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from flask import Flask, current_app

try:
    import fcntl
except ImportError:  # not POSIX: no O_DIRECT either
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_KEY = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Interface of a content-addressed blob store."""

    def spool(self, head_size: int = 0) -> "SpoolFile":
        """A temporary file to write an incoming blob to while hashing it (keeping its first
        ``head_size`` bytes in memory too)."""
        raise NotImplementedError

    def put(self, spool: "SpoolFile") -> bool:
        """Make the spooled bytes durable under their key; False if they were already present."""
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise if the store cannot be written and read."""
        raise NotImplementedError


#: Spool files that are to be fsynced are written with O_DIRECT (``SpoolFile``).
_DIRECT_IO = hasattr(os, "O_DIRECT")
#: O_DIRECT writes are whole blocks from an aligned buffer (4 KiB suits every device).
_BLOCK = 4096
_DIRECT_BUFFER = 1 << 20
_IDLE_BUFFERS = 16
_buffers: list[mmap.mmap] = []
_buffers_lock = threading.Lock()


def _take_buffer() -> mmap.mmap:
    """A page-aligned buffer for O_DIRECT writes; reused, so its pages stay resident.

    Private to the process: an anonymous mapping is shared by default, so a buffer pooled
    before ``python wsgi.py`` forks its servers (the store's layout marker is written at
    startup) would otherwise be one buffer for all of them, each writing the others' bytes."""
    with _buffers_lock:
        if _buffers:
            return _buffers.pop()
    return mmap.mmap(-1, _DIRECT_BUFFER, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _forget_buffers() -> None:
    """In a forked child: drop the pooled buffers (copies of the parent's)."""
    global _buffers_lock
    _buffers_lock = threading.Lock()
    _buffers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_buffers)


def _give_buffer(buffer: mmap.mmap) -> None:
    with _buffers_lock:
        if len(_buffers) < _IDLE_BUFFERS:
            _buffers.append(buffer)
            return
    try:
        buffer.close()
    except BufferError:  # a view of it is still alive (an exception's traceback holds one):
        pass  # dropped, unmapped when the last view goes


def _create(directory: str, direct: bool) -> tuple[int, bool, str]:
    """A new spool file: (descriptor, whether it is open with O_DIRECT, name)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        name = f"{directory}/spool-{secrets.token_hex(8)}"
        try:
            return os.open(name, flags | (os.O_DIRECT if direct else 0), 0o600), direct, name
        except FileExistsError:
            continue
        except OSError as exc:
            if not (direct and exc.errno == errno.EINVAL):
                raise
            direct = False  # the file system refuses O_DIRECT


class SpoolFile:
    """A temporary file that hashes what is written to it.

    With ``head_size``, the first bytes also stay in memory (``head``), so a DICOM header can
    be parsed without reading the file back.

    A file that is to be fsynced is written with O_DIRECT, through a reused aligned buffer:
    the bytes go from that buffer to the device, not through newly allocated page-cache pages
    (on this project's benchmark machine, a VM, copying into fresh page cache cost more CPU
    than anything else in a multipart store: bench/RESULTS.md). The last partial block is
    written buffered. A file system that refuses O_DIRECT gets buffered writes.
    """

    def __init__(self, directory: str | Path, fsync: bool, head_size: int = 0) -> None:
        self._fd, self._direct, self.name = _create(str(directory), _DIRECT_IO and fsync)
        self._hash = hashlib.sha256()
        self._key: str | None = None
        self.size = 0
        self._fsync = fsync
        self.closed = False
        self._head_size = head_size
        self.head = bytearray()
        self._buffer: mmap.mmap | None = None
        self._pending = 0  # bytes in _buffer not yet written

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self._received(view)
        if not self._direct:
            self._write_out(view)
            return
        if self._buffer is None:
            self._buffer = _take_buffer()
        while view:
            count = min(len(view), _DIRECT_BUFFER - self._pending)
            self._buffer[self._pending:self._pending + count] = view[:count]
            view = view[count:]
            self._filled(count)

    def fill(self, stream: BinaryIO, limit: int, chunk_size: int = 256 * 1024) -> bool:
        """Write everything ``stream`` holds, read straight into the O_DIRECT buffer when
        there is one (no intermediate bytes objects); False, with the rest left unread, once
        more than ``limit`` bytes came."""
        readinto = getattr(stream, "readinto", None)
        while True:
            if readinto is not None and self._direct:
                if self._buffer is None:
                    self._buffer = _take_buffer()
                free = min(chunk_size, _DIRECT_BUFFER - self._pending)
                with memoryview(self._buffer) as whole:  # no view outlives this block
                    with whole[self._pending:self._pending + free] as target:
                        count = readinto(target)
                        if count:
                            with target[:count] as received:
                                self._received(received)
                if not count:
                    return True
                self._filled(count)
            else:
                chunk = stream.read(chunk_size)
                if not chunk:
                    return True
                self.write(chunk)
            if self.size > limit:
                return False

    def _filled(self, count: int) -> None:
        """``count`` more bytes are in the O_DIRECT buffer: write it out once it is full."""
        self._pending += count
        if self._pending == _DIRECT_BUFFER:
            self._write_out(memoryview(self._buffer))
            self._pending = 0

    def _received(self, view: memoryview) -> None:
        """Account for bytes written: head, hash, size."""
        if len(self.head) < self._head_size:
            self.head += view[:self._head_size - len(self.head)]
        self._hash.update(view)
        self.size += len(view)

    def _write_out(self, view: memoryview) -> None:
        """Append ``view`` to the file (a short write is continued)."""
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                if not (self._direct and exc.errno == errno.EINVAL):
                    raise
                self._buffered()  # the file system took the file but refuses the write
                continue
            view = view[written:]

    def _buffered(self) -> None:
        """Write the rest of the file through the page cache."""
        if self._direct:
            self._direct = False
            fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL)
                        & ~os.O_DIRECT)

    def _flush(self) -> None:
        """Write what the buffer holds: its whole blocks direct, the partial last one
        buffered; give the buffer back."""
        buffer, pending = self._buffer, self._pending
        if buffer is None:
            return
        self._buffer, self._pending = None, 0
        try:
            whole = pending - pending % _BLOCK
            self._write_out(memoryview(buffer)[:whole])
            if pending > whole:
                self._buffered()
                self._write_out(memoryview(buffer)[whole:pending])
        finally:
            _give_buffer(buffer)

    @property
    def key(self) -> str:
        """The SHA-256 of the bytes written (hex); fixed once the file is finished."""
        if self._key is None:
            if not self.closed:
                return self._hash.hexdigest()
            self._key = self._hash.hexdigest()
        return self._key

    def finish(self) -> None:
        """Flush and close the written file (a request of thousands of parts must not hold
        thousands of descriptors); read it back with ``open()``. ``put`` makes it durable, so
        parts that are never stored (invalid, duplicate) cost no fsync."""
        if not self.closed:
            self.closed = True
            try:
                self._flush()
            finally:
                os.close(self._fd)

    def open(self) -> BinaryIO:
        """A new read handle on the spooled bytes."""
        return open(self.name, "rb")

    def sync(self) -> None:
        """fsync the data (when the store is configured to)."""
        if self._fsync:
            fd = os.open(self.name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self) -> None:
        """Close and remove the temporary file (idempotent)."""
        try:
            if not self.closed:
                self.closed = True
                try:
                    if self._buffer is not None:
                        buffer, self._buffer = self._buffer, None
                        _give_buffer(buffer)
                finally:
                    os.close(self._fd)
        finally:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "SpoolFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


#: ``<root>/.layout`` names the store's directory layout. Two levels of 256 directories made a
#: new directory (a mkdir and one more directory fsync) for most of a store's first ~100,000
#: files; 256 directories exist after ~1,500 files, and ext4/xfs index large directories
#: (39,000 files each at 10 million). A store created with two levels keeps them.
LAYOUT_FILE = ".layout"
LAYOUT_TWO_LEVELS, LAYOUT_FLAT = 1, 2


class FileSystemBlobStore(BlobStore):
    """Blobs as files under a root directory."""

    def __init__(self, root: str | os.PathLike[str], fsync: bool = True) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
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
            with self.spool() as spool:
                spool.write(f"{LAYOUT_TWO_LEVELS if legacy else LAYOUT_FLAT}\n".encode())
                spool.finish()
                spool.sync()
                try:  # atomically, and only one of several servers starting at once wins
                    os.link(spool.name, marker)
                except FileExistsError:
                    pass
                else:
                    self._fsync_dir(self.root)
        text = marker.read_text().strip()
        if text not in (str(LAYOUT_TWO_LEVELS), str(LAYOUT_FLAT)):
            raise ValueError(f"{marker}: unknown blob store layout {text!r}")
        return int(text)

    def path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise ValueError("blob keys are SHA-256 hex digests")
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
        if os.path.exists(target):
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
                self._fsync_dir(directory)
                return False
        except FileExistsError:
            self._fsync_dir(directory)
            return False
        self._fsync_dir(directory)
        return True

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (tests and tools); return the key."""
        with self.spool() as spool:
            spool.write(data)
            spool.finish()
            self.put(spool)
            return spool.key

    def open(self, key: str) -> BinaryIO:
        return open(self._file(key), "rb")

    def exists(self, key: str) -> bool:
        return os.path.exists(self._file(key))

    def content_key(self, key: str) -> str:
        """The key the bytes of file ``key`` hash to now (``key`` unless they changed)."""
        digest = hashlib.sha256()
        with self.open(key) as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def size(self, key: str) -> int:
        return os.stat(self._file(key)).st_size

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self) -> Iterator[str]:
        """Every stored key (maintenance)."""
        for path in self.root.glob(self._pattern):
            if _KEY.fullmatch(path.name):
                yield path.name

    def sweep(self, is_referenced: Callable[[Iterable[str]], set[str]],
              min_age_seconds: float = 3600) -> int:
        """Remove stale temporary files and files no index row references; return the count.

        ``is_referenced`` gets a batch of keys and returns those still referenced. Only files
        older than ``min_age_seconds`` are touched, so a store in flight is never swept.
        """
        removed = 0
        cutoff = time.time() - min_age_seconds
        for path in self.tmp.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        batch: list[str] = []

        def flush() -> int:
            referenced = is_referenced(batch)
            count = 0
            for key in batch:
                if key not in referenced:
                    path = self.path(key)
                    try:
                        if path.stat().st_mtime < cutoff:
                            path.unlink()
                            count += 1
                    except FileNotFoundError:
                        pass
            batch.clear()
            return count

        for key in self.keys():
            batch.append(key)
            if len(batch) >= 500:
                removed += flush()
        if batch:
            removed += flush()
        return removed

    def check(self) -> None:
        probe = self.tmp / f"health-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        try:
            if probe.read_bytes() != b"ok":
                raise OSError("blob store read back different bytes")
        finally:
            probe.unlink()


def init_app(app: Flask) -> FileSystemBlobStore:
    """Create the blob store and register the ``flask blobs sweep`` command."""
    import click

    store = FileSystemBlobStore(app.config["BLOB_STORE_PATH"], app.config["FSYNC"])
    app.extensions["dicom_blobs"] = store

    @app.cli.group("blobs")
    def blobs_group() -> None:
        """Blob store maintenance."""

    @blobs_group.command("sweep")
    @click.option("--min-age", default=3600.0, show_default=True,
                  help="Only remove files older than this many seconds.")
    def sweep_command(min_age: float) -> None:
        """Remove files that no instance references, and stale temporary files."""
        from .services.maintenance import sweep_blobs

        removed = sweep_blobs(app.extensions["dicom_db"], store, min_age)
        click.echo(f"Removed {removed} files.")

    @blobs_group.command("verify")
    def verify_command() -> None:
        """Read every file and check that its bytes still hash to its name (SHA-256); list
        the ones that do not and exit with status 1 if there are any."""
        checked, damaged = 0, []
        for key in store.keys():
            try:
                actual = store.content_key(key)
            except FileNotFoundError:  # removed since it was listed (a delete, a sweep)
                continue
            checked += 1
            if actual != key:
                damaged.append(key)
                click.echo(f"damaged: {key}")
        click.echo(f"Checked {checked} files, {len(damaged)} damaged.")
        if damaged:
            raise SystemExit(1)

    return store


def get_blobstore() -> FileSystemBlobStore:
    return current_app.extensions["dicom_blobs"]


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

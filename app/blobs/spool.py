"""SpoolFile: a temporary file that hashes what is written to it, written with O_DIRECT through
a pool of reused aligned buffers when it is to be fsynced."""
from __future__ import annotations

import errno
import hashlib
import itertools
import mmap
import os
import secrets
import threading
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # not POSIX: no O_DIRECT either
    fcntl = None  # type: ignore[assignment]


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
    """In a forked child: drop the pooled buffers (copies of the parent's), and name spool
    files apart from the parent's."""
    global _buffers_lock
    _buffers_lock = threading.Lock()
    _buffers.clear()
    _new_names()


#: Spool file names: a random prefix per process and a counter (no getrandom call per file;
#: O_EXCL still refuses a name that exists).
_names = {"prefix": "", "counter": itertools.count()}


def _new_names() -> None:
    _names.update(prefix=secrets.token_hex(8), counter=itertools.count())


_new_names()


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
        name = f"{directory}/spool-{_names['prefix']}-{next(_names['counter'])}"
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
        self._kept_fd: int | None = None  # finish(keep_open=True): the descriptor, for sync

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
            # O_DIRECT is the only file status flag _create sets: clear it without reading
            # the flags first (one fcntl instead of two).
            fcntl.fcntl(self._fd, fcntl.F_SETFL, 0)

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

    def finish(self, keep_open: bool = False) -> None:
        """Flush and close the written file (a request of thousands of parts must not hold
        thousands of descriptors); read it back with ``open()``. ``put`` makes it durable, so
        parts that are never stored (invalid, duplicate) cost no fsync. ``keep_open`` (a
        request's only part): the descriptor stays open for ``sync`` until ``discard``, which
        saves opening the file again by name."""
        if not self.closed:
            self.closed = True
            try:
                self._flush()
            except BaseException:
                os.close(self._fd)
                raise
            if keep_open:
                self._kept_fd = self._fd
            else:
                os.close(self._fd)

    def open(self) -> BinaryIO:
        """A new read handle on the spooled bytes."""
        return open(self.name, "rb")

    def sync(self) -> None:
        """fsync the data (when the store is configured to)."""
        if self._fsync:
            if self._kept_fd is not None:
                os.fsync(self._kept_fd)
                return
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
            elif self._kept_fd is not None:
                fd, self._kept_fd = self._kept_fd, None
                os.close(fd)
        finally:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "SpoolFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

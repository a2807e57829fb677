"""SpoolFile: what is written comes back byte for byte, whichever way it was written (O_DIRECT
through the aligned buffer when fsync is on, buffered otherwise or where O_DIRECT is refused)."""
from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import pytest

from app.blobs import FileSystemBlobStore
from app.blobs import spool as spool_module

MIB = 1 << 20
SIZES = [0, 1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 1, 3 * MIB + 12345]
CHUNKS = [7, 65536, 300_001, None]  # None: the whole body in one write


def _payload(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


class _ReadOnly:
    """A stream without readinto (fill falls back to read)."""

    def __init__(self, data: bytes):
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


def _spool_and_put(store: FileSystemBlobStore, data: bytes, chunk: int | None,
                   head_size: int = 1000, how: str = "write") -> str:
    with store.spool(head_size) as spool:
        if how == "write":
            step = chunk or max(len(data), 1)
            for start in range(0, len(data), step):
                spool.write(data[start:start + step])
        else:  # fill from a stream, with readinto or with read only
            stream = io.BytesIO(data) if how == "readinto" else _ReadOnly(data)
            assert spool.fill(stream, len(data), *([chunk] if chunk else []))
        spool.finish()
        assert spool.size == len(data)
        assert spool.key == hashlib.sha256(data).hexdigest()
        assert bytes(spool.head) == data[:head_size]
        with spool.open() as handle:  # read back before it is put (parts parsed from disk)
            assert handle.read() == data
        store.put(spool)
        return spool.key


@pytest.mark.parametrize("fsync", [True, False])
@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("size", SIZES)
def test_spooled_bytes_are_stored_exactly(tmp_path: Path, fsync: bool, chunk: int | None,
                                          size: int) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=fsync)
    data = _payload(size)
    key = _spool_and_put(store, data, chunk)
    with store.open(key) as handle:
        assert handle.read() == data
    assert store.size(key) == size
    assert list(store.tmp.iterdir()) == []  # the spool name is gone, the blob stays


@pytest.mark.parametrize("fsync", [True, False])
@pytest.mark.parametrize("how", ["readinto", "read"])
@pytest.mark.parametrize("chunk", [65536, 300_001, None])
@pytest.mark.parametrize("size", SIZES)
def test_spool_filled_from_a_stream_stores_bytes_exactly(tmp_path: Path, fsync: bool, how: str,
                                                         chunk: int | None, size: int) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=fsync)
    data = _payload(size)
    key = _spool_and_put(store, data, chunk, how=how)
    with store.open(key) as handle:
        assert handle.read() == data


@pytest.mark.parametrize("how", ["readinto", "read"])
def test_spool_fill_stops_beyond_the_limit(tmp_path: Path, how: str) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    data = _payload(MIB + 10)
    stream = io.BytesIO(data) if how == "readinto" else _ReadOnly(data)
    with store.spool() as spool:
        assert spool.fill(stream, MIB + 9, 65536) is False
        assert MIB + 9 < spool.size <= MIB + 10
    with store.spool() as spool:
        assert spool.fill(io.BytesIO(data), MIB + 10) is True


def test_fsynced_spool_writes_with_o_direct(tmp_path: Path) -> None:
    """On a file system that supports it (ext4, xfs, tmpfs since Linux 6.6), the bytes bypass
    the page cache."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    spool = store.spool()
    try:
        import fcntl
        flags = fcntl.fcntl(spool._fd, fcntl.F_GETFL)
        if not spool._direct:
            pytest.skip("this file system refuses O_DIRECT")
        assert flags & os.O_DIRECT
    finally:
        spool.discard()
    assert FileSystemBlobStore(tmp_path / "other", fsync=False).spool()._direct is False


def test_file_system_refusing_o_direct_at_open(tmp_path: Path, monkeypatch) -> None:
    real_open = os.open

    def refusing_open(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(spool_module.os, "open", refusing_open)
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    data = _payload(2 * MIB + 3)
    key = _spool_and_put(store, data, 65536)
    with store.open(key) as handle:
        assert handle.read() == data


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")
def test_file_system_refusing_o_direct_writes(tmp_path: Path, monkeypatch) -> None:
    """Some file systems open with O_DIRECT but refuse the write: the rest goes buffered."""
    import fcntl

    real_write = os.write
    refused = []

    def refusing_write(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(spool_module.os, "write", refusing_write)
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    data = _payload(MIB + 4097)
    key = _spool_and_put(store, data, 300_001)
    with store.open(key) as handle:
        assert handle.read() == data
    other = _payload(3 * MIB + 5)
    key = _spool_and_put(store, other, 300_001, how="readinto")
    with store.open(key) as handle:
        assert handle.read() == other
    probe = FileSystemBlobStore(tmp_path / "probe", fsync=True).spool()
    probe.discard()
    if probe._direct:  # this file system takes O_DIRECT: it was tried first
        assert refused


def test_write_errors_other_than_einval_propagate(tmp_path: Path, monkeypatch) -> None:
    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    spool = store.spool()
    monkeypatch.setattr(spool_module.os, "write", full_disk)
    with pytest.raises(OSError) as raised:
        spool.write(_payload(MIB + 1))  # a full buffer is written at once
        spool.finish()
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    spool.discard()
    assert list(store.tmp.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_pooled_buffers_are_not_shared_with_forked_processes() -> None:
    """``python wsgi.py`` pools a buffer before it forks (the layout marker): a child writing
    into its buffer must not change the parent's (an anonymous mmap is shared by default)."""
    buffer = spool_module._take_buffer()
    buffer[:4] = b"mine"
    spool_module._give_buffer(buffer)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its pool starts empty, and writing its buffers stays private
        try:
            empty = not spool_module._buffers
            child = spool_module._take_buffer()
            child[:4] = b"kid!"
            buffer[:4] = b"kid!"  # the inherited object too
            os.write(write, b"1" if empty else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    os.waitpid(pid, 0)
    assert spool_module._take_buffer()[:4] == b"mine"


class _FailingStream:
    """readinto fills one chunk, then fails as a full disk or a broken read would."""

    def __init__(self) -> None:
        self.calls = 0

    def readinto(self, target) -> int:
        self.calls += 1
        if self.calls > 1:
            raise OSError(errno.EIO, "Input/output error")
        target[:10] = b"0123456789"
        return 10


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")
def test_discarding_a_spool_while_its_failure_is_handled(tmp_path: Path, monkeypatch) -> None:
    """The failure's traceback must not keep a view of the buffer that stops it from being
    closed (BufferError), and the file is removed."""
    monkeypatch.setattr(spool_module, "_IDLE_BUFFERS", 0)  # every buffer given back is closed
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    spool = store.spool()
    if not spool._direct:
        spool.discard()
        pytest.skip("this file system refuses O_DIRECT")
    with pytest.raises(OSError) as raised:
        try:
            spool.fill(_FailingStream(), 1 << 20)
        except OSError:
            spool.discard()  # as STOW does, inside the handler
            raise
    assert raised.value.errno == errno.EIO
    assert list(store.tmp.iterdir()) == []


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc here")
@pytest.mark.parametrize("fsync", [True, False])
def test_a_spool_kept_open_is_stored_exactly_and_closed_by_discard(tmp_path: Path,
                                                                   fsync: bool) -> None:
    """STOW's single part keeps its descriptor for the fsync (``finish(keep_open=True)``): the
    file is stored byte for byte, and ``discard`` closes the descriptor and removes the
    spool."""
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=fsync)
    data = _payload(MIB + 12345)
    before = _open_descriptors()
    spool = store.spool(1000)
    assert spool.fill(io.BytesIO(data), len(data))
    spool.finish(keep_open=True)
    assert _open_descriptors() == before + 1
    with spool.open() as handle:
        assert handle.read() == data
    assert store.put(spool)
    with store.open(spool.key) as handle:
        assert handle.read() == data
    spool.discard()
    spool.discard()  # idempotent
    assert _open_descriptors() == before
    assert list(store.tmp.iterdir()) == []


def test_spool_names_differ_in_a_forked_process(tmp_path: Path) -> None:
    """Spool files are named by a per-process prefix and a counter: a forked server process
    draws its own prefix, so its names never repeat its parent's."""
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            spool = store.spool()
            os.write(write, spool.name.encode())
            spool.finish()  # kept on disk for the parent to see
        finally:
            os._exit(0)
    os.close(write)
    child_name = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    with store.spool() as spool:
        assert spool.name != child_name
        assert os.path.basename(spool.name).rsplit("-", 1)[0] != (
            os.path.basename(child_name).rsplit("-", 1)[0])

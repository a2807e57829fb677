"""The streaming multipart/related reader and the file body of responses
(app/dicomweb/multipart.py)."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from waitress.buffers import ReadOnlyFileBasedBuffer

from app.blobs import FileSystemBlobStore
from app.dicomweb.multipart import FileBody, FilePart, iter_parts
from app.errors import InvalidMultipartRequestError, PayloadTooLargeError


class TrickleStream(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, to split boundaries."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.pos:self.pos + min(self.step, size if size > 0 else self.step)]
        self.pos += len(chunk)
        return chunk


@pytest.fixture
def blobs(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "blobs", fsync=False)


def body(*parts: bytes, boundary: str = "XyZ", headers: str = "Content-Type: application/dicom",
         close: bool = True) -> bytes:
    out = b""
    for part in parts:
        out += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + part + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


def read_all(data: bytes, blobs: FileSystemBlobStore, boundary: str = "XyZ", step: int = 0,
             limit: int = 1 << 30) -> list[tuple[dict[str, str], bytes]]:
    stream = TrickleStream(data, step) if step else io.BytesIO(data)
    result = []
    for part in iter_parts(stream, boundary, blobs.spool, limit):
        assert part.spool is not None
        with part.spool.open() as handle:
            result.append((part.headers, handle.read()))
        part.spool.discard()
    return result


def test_iter_parts_two_parts_yields_headers_and_content(blobs):
    parts = read_all(body(b"first", b"second\r\n--XyZ-not-a-boundary"), blobs)
    assert [content for _, content in parts] == [b"first", b"second\r\n--XyZ-not-a-boundary"]
    assert parts[0][0] == {"content-type": "application/dicom"}


@pytest.mark.parametrize("step", [1, 3, 17, 4096])
def test_iter_parts_boundary_split_across_reads_is_found(blobs, step):
    payload = bytes(range(256)) * 40
    parts = read_all(body(payload, payload[::-1]), blobs, step=step)
    assert [content for _, content in parts] == [payload, payload[::-1]]


def test_iter_parts_empty_body_part_yields_empty_content(blobs):
    assert read_all(body(b""), blobs) == [({"content-type": "application/dicom"}, b"")]


def test_iter_parts_no_parts_yields_nothing(blobs):
    assert read_all(b"--XyZ--\r\n", blobs) == []


def test_iter_parts_preamble_and_epilogue_are_ignored(blobs):
    data = b"This is a preamble.\r\n" + body(b"x") + b"epilogue \x00\xff garbage"
    assert [content for _, content in read_all(data, blobs)] == [b"x"]


def test_iter_parts_header_names_lower_cased(blobs):
    parts = read_all(body(b"x", headers="CONTENT-TYPE:  Application/DICOM \r\nX-Extra: 1"), blobs)
    assert parts[0][0] == {"content-type": "Application/DICOM", "x-extra": "1"}


def test_iter_parts_unterminated_body_raises(blobs):
    with pytest.raises(InvalidMultipartRequestError):
        read_all(body(b"x", close=False), blobs)
    with pytest.raises(InvalidMultipartRequestError):
        read_all(body(b"abcdef")[:20], blobs)
    assert list(blobs.tmp.iterdir()) == []  # spools of unfinished parts are removed


def test_iter_parts_missing_boundary_raises(blobs):
    with pytest.raises(InvalidMultipartRequestError):
        read_all(b"no boundary anywhere in this body", blobs)


def test_iter_parts_part_over_limit_raises_413(blobs):
    with pytest.raises(PayloadTooLargeError) as info:
        read_all(body(b"a" * 100), blobs, limit=99)
    assert str(info.value) == "The request exceeded the allowed limit of 99 bytes."
    assert list(blobs.tmp.iterdir()) == []


def test_iter_parts_part_at_limit_is_accepted(blobs):
    assert read_all(body(b"a" * 100), blobs, limit=100)[0][1] == b"a" * 100


def test_iter_parts_spool_key_is_sha256_of_content(blobs):
    import hashlib
    stream = io.BytesIO(body(b"hello"))
    [part] = list(iter_parts(stream, "XyZ", blobs.spool, 1000))
    assert part.spool is not None and part.spool.key == hashlib.sha256(b"hello").hexdigest()
    assert part.spool.size == 5
    part.spool.discard()


def _file_body_fixture(tmp_path: Path) -> tuple[list, bytes]:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(bytes(range(256)) * 40)
    second.write_bytes(b"0123456789" * 1000)
    pieces = [b"--head--", FilePart(first, "1.2", 0, 10240), b"\r\n",
              FilePart(second, "1.2", 100, 5000), b"--end--"]
    expected = b"--head--" + first.read_bytes() + b"\r\n" + second.read_bytes()[100:5100] \
        + b"--end--"
    return pieces, expected


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_file_body_reads_as_the_concatenation(tmp_path: Path, chunk: int) -> None:
    pieces, expected = _file_body_fixture(tmp_path)
    body = FileBody(pieces)
    assert len(body) == len(expected)
    read = b""
    while data := body.read(chunk):
        read += data
    assert read == expected
    body.close()


def test_file_body_as_waitress_sends_it(tmp_path: Path) -> None:
    """waitress's file_wrapper reads, seeks back, then skips what the socket took."""
    pieces, expected = _file_body_fixture(tmp_path)
    buffer = ReadOnlyFileBasedBuffer(FileBody(pieces))
    assert buffer.prepare(len(expected)) == len(expected)
    sent = b""
    while len(buffer):
        chunk = buffer.get(3000)
        taken = chunk[:max(1, len(chunk) // 2)]  # a socket that takes half
        sent += taken
        buffer.skip(len(taken), True)
    assert sent == expected
    buffer.close()


def test_file_body_removes_temporary_files_on_close(tmp_path: Path) -> None:
    temporary = tmp_path / "transcoded"
    temporary.write_bytes(b"x" * 100)
    body = FileBody([b"h", FilePart(temporary, "1.2", 0, 100, temporary=True)])
    assert body.read(10) == b"h"
    assert body.read(10) == b"x" * 10
    body.close()
    assert not temporary.exists()


def test_file_body_of_a_shortened_file_fails_instead_of_padding(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"x" * 10)
    body = FileBody([FilePart(short, "1.2", 0, 100)])
    assert body.read(100) == b"x" * 10
    with pytest.raises(OSError):
        body.read(100)
    body.close()

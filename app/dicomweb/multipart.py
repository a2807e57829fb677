"""multipart/related (RFC 2387): the streaming reader of STOW bodies and the writer of WADO
responses.

Reader: parts are spooled to temporary files while the body streams in (python-multipart), so
memory stays flat whatever the request size. ``iter_parts`` yields each completed part as soon
as its closing boundary is seen; from then on the caller owns the part's spool and must discard
it.

Writer: ``MultipartFiles`` streams byte ranges of files as the parts of a response body;
``multipart_bytes`` joins parts held in memory. Neither touches the database: everything they
need was read before the response started.
"""
from __future__ import annotations

import bisect
import io
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser

from ..blobs import BlobStore, SpoolFile
from ..errors import DataStoreError, InvalidMultipartRequestError, PayloadTooLargeError

logger = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
#: Longest preamble skipped before the first boundary.
MAX_PREAMBLE = 64 * 1024


@dataclass
class Part:
    """One body part: its headers (lower-case names) and spooled content."""

    headers: dict[str, str] = field(default_factory=dict)
    spool: SpoolFile | None = None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def iter_parts(stream: BinaryIO, boundary: str, new_spool: Callable[[], SpoolFile],
               max_part_size: int) -> Iterator[Part]:
    """Yield the parts of a multipart body read from ``stream``.

    Raises InvalidMultipartRequestError for a malformed or unterminated body and
    PayloadTooLargeError when a part exceeds ``max_part_size``.
    """
    done: list[Part] = []
    state: dict[str, object] = {"part": None, "field": b"", "value": b"", "ended": False}

    def on_part_begin() -> None:
        state["part"] = Part(spool=new_spool())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]  # type: ignore[operator]

    def on_header_end() -> None:
        part: Part = state["part"]  # type: ignore[assignment]
        name = bytes(state["field"]).decode("latin-1").strip().lower()  # type: ignore[arg-type]
        part.headers[name] = bytes(state["value"]).decode("latin-1").strip()  # type: ignore
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part: Part = state["part"]  # type: ignore[assignment]
        assert part.spool is not None
        if part.spool.size + (end - start) > max_part_size:
            raise PayloadTooLargeError(max_part_size)
        part.spool.write(memoryview(data)[start:end])

    def on_part_end() -> None:
        part: Part = state["part"]  # type: ignore[assignment]
        assert part.spool is not None
        part.spool.finish()
        done.append(part)
        state["part"] = None

    def on_end() -> None:
        state["ended"] = True

    try:
        parser = MultipartParser(boundary, callbacks={  # type: ignore[arg-type]
            "on_part_begin": on_part_begin, "on_header_field": on_header_field,
            "on_header_value": on_header_value, "on_header_end": on_header_end,
            "on_part_data": on_part_data, "on_part_end": on_part_end, "on_end": on_end,
        })
    except FormParserError as exc:  # e.g. a boundary longer than the parser allows
        raise InvalidMultipartRequestError(f"The multipart request is invalid: {exc}") from None
    delimiter = b"--" + boundary.encode("latin-1")
    head = b""  # bytes before the first delimiter: the preamble (RFC 2046 §5.1.1), ignored
    try:
        while True:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                break
            if state["ended"]:
                continue  # the epilogue after the closing boundary is ignored (RFC 2046 §5.1.1)
            if head is not None:
                head += chunk
                start = head.find(delimiter)
                if start < 0:
                    if len(head) > MAX_PREAMBLE:
                        raise InvalidMultipartRequestError(
                            "The multipart request is invalid: the boundary was not found.")
                    continue
                chunk, head = head[start:], None
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidMultipartRequestError(
                    f"The multipart request is invalid: {exc}") from None
            while done:
                yield done.pop(0)
        if not state["ended"]:
            raise InvalidMultipartRequestError(
                "The multipart request is invalid: unexpected end of the request body.")
    finally:
        pending = state["part"]
        if isinstance(pending, Part) and pending.spool is not None:
            pending.spool.discard()
        for part in done:
            if part.spool is not None:
                part.spool.discard()


@dataclass(frozen=True, slots=True)
class FilePart:
    """A byte range to send as one part: of a local ``path`` (``temporary`` files are removed
    after), or of a stored blob (``blobs`` and ``key``; ``path`` None). ``whole``: the range is
    the whole file."""

    path: Path | None
    transfer_syntax: str
    offset: int
    length: int
    temporary: bool = False
    blobs: BlobStore | None = None
    key: str = ""
    whole: bool = False
    #: The blob's size (a part of it: bulk data), when known; a whole blob's is ``length``.
    blob_size: int | None = None
    #: A handle already open on the part's first byte (retrieve opened it to learn that the
    #: object is there from the GET itself); the first ``open()`` takes it.
    opened: list[BinaryIO] = field(default_factory=list, compare=False, repr=False)

    def open(self, inside: int = 0) -> BinaryIO:
        """A handle to read the part's bytes from ``inside`` on, sequentially (a blob's is one
        ranged read of the rest of the part)."""
        if not inside and self.opened:
            return self.opened.pop()
        if self.blobs is not None:
            return self.blobs.open_range(self.key, self.offset + inside, self.length - inside,
                                         self.length if self.whole else self.blob_size)
        assert self.path is not None
        handle = open(self.path, "rb")
        handle.seek(self.offset + inside)
        return handle

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else f"blob {self.key}"


def discard(parts: list[FilePart]) -> None:
    """Remove the temporary files among ``parts`` and close the handles opened for them."""
    for part in parts:
        while part.opened:
            part.opened.pop().close()
        if part.temporary and part.path is not None:
            try:
                part.path.unlink()
            except FileNotFoundError:
                pass


def new_boundary() -> str:
    """A random multipart boundary: 32 hex digits (128 random bits, as a UUID4's hex, without
    building the UUID)."""
    return os.urandom(16).hex()


def content_type(media_type: str, transfer_syntax: str) -> str:
    """The Content-Type of one part (or a single-part body) in ``transfer_syntax``."""
    return f"{media_type}; transfer-syntax={transfer_syntax}"


def multipart_type(media_type: str, boundary: str) -> str:
    """The Content-Type of a multipart/related body of ``media_type`` parts."""
    return f'multipart/related; type="{media_type}"; boundary={boundary}'


class MultipartFiles:
    """A multipart/related body of file ranges (see ``FileBody``); temporary files are removed
    on close."""

    def __init__(self, parts: list[FilePart], media_type: str) -> None:
        self.parts = parts
        self.media_type = media_type
        self.boundary = new_boundary()

    def _header(self, part: FilePart) -> bytes:
        return (f"--{self.boundary}\r\nContent-Type: "
                f"{content_type(self.media_type, part.transfer_syntax)}\r\n\r\n").encode()

    @property
    def content_type(self) -> str:
        return multipart_type(self.media_type, self.boundary)

    @property
    def closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def body(self) -> "FileBody":
        """The whole body as one readable, seekable object."""
        pieces: list[bytes | FilePart] = []
        for part in self.parts:  # the CRLF ending a part joins the next piece of text
            pieces += [(b"\r\n" if pieces else b"") + self._header(part), part]
        pieces.append((b"\r\n" if pieces else b"") + self.closing)
        return FileBody(pieces)


class FileBody(io.RawIOBase):
    """A response body made of byte strings and file ranges, readable and seekable as one file.

    Handed to ``wsgi.file_wrapper``, waitress sends it by reading it in socket-buffer-sized
    pieces, straight from the files, instead of copying the body into its output buffer first;
    memory stays flat whatever the number and size of the files. One file is read at a time
    and temporary files are removed on close. A read returns bytes of one piece only (short
    reads are allowed).

    Blobs of a store with ``open_ahead`` (object storage) are opened that many parts ahead, in
    threads, while the current one is sent: each GET's round trip and the store's work on it
    overlap with sending. An opened GET is not read until its turn: what it holds meanwhile is
    the socket's buffer, not the file.
    """

    def __init__(self, pieces: list[bytes | FilePart]) -> None:
        super().__init__()
        self._pieces = pieces
        self._starts: list[int] = []
        position = 0
        for piece in pieces:
            self._starts.append(position)
            position += len(piece) if isinstance(piece, bytes) else piece.length
        self._size = position
        self._position = 0
        self._open: tuple[int, BinaryIO, int] | None = None  # piece, handle, where in it
        self._ahead: dict[int, Future[BinaryIO]] = {}  # piece -> its GET, started early
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        # waitress seeks around every read it sends (tell, read, seek back, seek ahead)
        if whence == os.SEEK_SET:
            base = 0
        elif whence == os.SEEK_CUR:
            base = self._position
        elif whence == os.SEEK_END:
            base = self._size
        else:
            raise KeyError(whence)
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        if size == 0 or self._position >= self._size:
            return b""
        index = bisect.bisect_right(self._starts, self._position) - 1
        piece, inside = self._pieces[index], self._position - self._starts[index]
        if isinstance(piece, bytes):
            data = piece[inside:inside + size] if inside or size < len(piece) else piece
        else:
            handle = self._handle(index, piece, inside)
            data = handle.read(min(size, piece.length - inside))
            if not data:  # the file is shorter than its index entry says
                raise OSError(f"{piece.name} ended {piece.length - inside} bytes early")
            self._open = (index, handle, inside + len(data))
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _handle(self, index: int, part: FilePart, inside: int) -> BinaryIO:
        """The open handle of piece ``index`` if it is at ``inside``, else a new one there
        (read sequentially: object storage streams cannot seek)."""
        if self._open is not None and self._open[0] == index and self._open[2] == inside:
            return self._open[1]
        self._close_handle()
        ahead = self._ahead.pop(index, None)
        try:
            if ahead is not None and not inside:
                handle = ahead.result()
            else:
                _close_when_done(ahead)
                handle = part.open(inside)
        except (OSError, DataStoreError) as exc:  # the status is sent: the body ends here
            logger.error("Cannot read %s while sending it: %s", part.name, exc)
            raise
        self._open = (index, handle, inside)
        self._open_ahead(index)
        return handle

    def _open_ahead(self, index: int) -> None:
        """Start opening the blob parts after piece ``index``, up to their store's
        ``open_ahead`` of them (not those it holds locally: opened when due)."""
        due = 0
        for later in range(index + 1, len(self._pieces)):
            part = self._pieces[later]
            if isinstance(part, bytes):
                continue
            depth = part.blobs.open_ahead if part.blobs is not None else 0
            due += 1
            if due > depth:
                return
            if later not in self._ahead and not part.blobs.local(part.key):  # type: ignore
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=depth,
                                                    thread_name_prefix="open-ahead")
                self._ahead[later] = self._pool.submit(part.open)

    def _close_handle(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def close(self) -> None:
        if not self.closed:
            try:
                self._close_handle()
                for ahead in self._ahead.values():
                    _close_when_done(ahead)
                self._ahead.clear()
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                discard([piece for piece in self._pieces if isinstance(piece, FilePart)])
            finally:
                super().close()


def _close_when_done(ahead: Future[BinaryIO] | None) -> None:
    """Drop a part opened ahead that will not be read: not started, it never starts; else its
    handle is closed once it is open (a failed open needs nothing)."""
    if ahead is None or ahead.cancel():
        return

    def close(done: Future[BinaryIO]) -> None:
        if done.exception() is None:
            done.result().close()
    ahead.add_done_callback(close)


def multipart_bytes(parts: Iterable[bytes], media_type: str,
                    transfer_syntax: str) -> tuple[Iterator[bytes], str]:
    """A multipart/related body of byte strings, all in ``transfer_syntax``, streamed as
    ``parts`` yields them (``parts`` is closed at the end when it can be), and its
    Content-Type."""
    boundary = new_boundary()
    header = (f"--{boundary}\r\nContent-Type: "
              f"{content_type(media_type, transfer_syntax)}\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:
        try:
            for part in parts:
                yield header + part + b"\r\n"
            yield f"--{boundary}--\r\n".encode()
        finally:
            close = getattr(parts, "close", None)
            if close is not None:
                close()
    return chunks(), multipart_type(media_type, boundary)

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

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser

from ..blobs import CHUNK, SpoolFile, iter_file
from ..errors import InvalidMultipartRequestError, PayloadTooLargeError

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
    """A byte range of a file to send as one part; ``temporary`` files are removed after."""

    path: Path
    transfer_syntax: str
    offset: int
    length: int
    temporary: bool = False


def discard(parts: list[FilePart]) -> None:
    """Remove the temporary files among ``parts``."""
    for part in parts:
        if part.temporary:
            try:
                part.path.unlink()
            except FileNotFoundError:
                pass


def content_type(media_type: str, transfer_syntax: str) -> str:
    """The Content-Type of one part (or a single-part body) in ``transfer_syntax``."""
    return f"{media_type}; transfer-syntax={transfer_syntax}"


def multipart_type(media_type: str, boundary: str) -> str:
    """The Content-Type of a multipart/related body of ``media_type`` parts."""
    return f'multipart/related; type="{media_type}"; boundary={boundary}'


class MultipartFiles:
    """A multipart/related body of file ranges, streamed; temporary files are removed on close."""

    def __init__(self, parts: list[FilePart], media_type: str) -> None:
        self.parts = parts
        self.media_type = media_type
        self.boundary = uuid.uuid4().hex
        self._closed = False

    def _header(self, part: FilePart) -> bytes:
        return (f"--{self.boundary}\r\nContent-Type: "
                f"{content_type(self.media_type, part.transfer_syntax)}\r\n\r\n").encode()

    @property
    def content_type(self) -> str:
        return multipart_type(self.media_type, self.boundary)

    @property
    def closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    @property
    def content_length(self) -> int:
        return sum(len(self._header(p)) + p.length + 2 for p in self.parts) + len(self.closing)

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            yield self._header(part)
            handle = open(part.path, "rb")
            if part.offset or part.length != os.fstat(handle.fileno()).st_size:
                yield from iter_range(handle, part.offset, part.length)
            else:
                yield from iter_file(handle, CHUNK)
            yield b"\r\n"
        yield self.closing

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            discard(self.parts)


def open_single(part: FilePart) -> tuple[BinaryIO, bool]:
    """Open the file of a part sent as the whole body: (handle, whether the part is the whole
    file). A temporary file is unlinked at once; the open handle keeps its data until closed."""
    handle = open(part.path, "rb")
    if part.temporary:
        os.unlink(part.path)
    whole = not part.offset and part.length == os.fstat(handle.fileno()).st_size
    return handle, whole


def iter_range(handle: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes of ``handle`` from ``offset`` in chunks, closing it at the end."""
    try:
        handle.seek(offset)
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()


def multipart_bytes(parts: Iterable[bytes], media_type: str,
                    transfer_syntax: str) -> tuple[Iterator[bytes], str]:
    """A multipart/related body of byte strings, all in ``transfer_syntax``, streamed as
    ``parts`` yields them (``parts`` is closed at the end when it can be), and its
    Content-Type."""
    boundary = uuid.uuid4().hex
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

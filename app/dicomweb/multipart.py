"""Streaming multipart/related reader (RFC 2387) on python-multipart.

Parts are spooled to temporary files while the body streams in, so memory stays flat whatever
the request size. ``iter_parts`` yields each completed part as soon as its closing boundary is
seen; from then on the caller owns the part's spool and must discard it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser

from ..blobs import SpoolFile
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

"""Reading a PS3.10 file up to its pixel data, and checking that it is not truncated.

pydicom reads short values silently, so ``read`` checks that the last element read (and the
pixel data that follows, or the delimiter of encapsulated pixel data) ends inside the file, and
that a file without pixel data ends where its last element does (decisions "Store").
"""
from __future__ import annotations

import io
from typing import BinaryIO, Callable, ContextManager

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from . import header_reader
from .json_model import DEFER_SIZE

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
PIXEL_DATA_TAG = 0x7FE00010
_PIXEL_DATA_BYTES = {b"\xe0\x7f\x10\x00": "little", b"\x7f\xe0\x00\x10": "big"}
ENCAPSULATED_PREFIXES = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.8")
_UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
_SEQUENCE_DELIMITER = {True: b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",
                       False: b"\xff\xfe\xe0\xdd\x00\x00\x00\x00"}


class InvalidPart10Error(Exception):
    """An empty or truncated file, or one without a transfer syntax in its file meta;
    ``str()`` says which."""


EMPTY, TRUNCATED = "The part is empty.", "The file is truncated."
NO_TRANSFER_SYNTAX = "The file meta information has no transfer syntax."


def read(head: bytes | bytearray | None, size: int,
         open_file: Callable[[], ContextManager[BinaryIO]]) -> tuple[Dataset, bool]:
    """Parse a file of ``size`` bytes up to the pixel data; return the dataset and whether
    pixel data follows.

    ``head``, the file's first bytes kept in memory, is enough for most headers; otherwise the
    file (``open_file()``) is read. Raise InvalidPart10Error for an empty or truncated file or
    one without a transfer syntax; whatever pydicom raises for bytes it cannot read
    (``elements.DECODE_ERRORS``) passes through.
    """
    if size == 0:
        raise InvalidPart10Error(EMPTY)
    found = None
    if head:
        head = bytes(head)
        found = _parse(io.BytesIO(head), size, partial=len(head) < size, data=head)
    if found is None:
        with open_file() as fp:
            found = _parse(fp, size)
    if "TransferSyntaxUID" not in found[0].file_meta:
        raise InvalidPart10Error(NO_TRANSFER_SYNTAX)
    return found  # type: ignore[return-value]


def _parse(fp: BinaryIO, size: int, partial: bool = False,
           data: bytes | None = None) -> tuple[Dataset, bool] | None:
    """``read`` from ``fp``. With ``partial`` (``fp`` holds only the first bytes of the file),
    None when they are not enough: the header goes beyond them, or the pixel data is
    encapsulated (its end is checked in the file). ``data``: the bytes ``fp`` holds, for the
    one-pass reader of common headers (``header_reader``; pydicom reads the others)."""
    fast = None if data is None else header_reader.read(data, fp, DEFER_SIZE)
    if fast is not None:
        ds, position = fast
        fp.seek(position)
    else:
        try:
            ds = dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
        except Exception:
            if partial:  # cut off by the end of the head: the file decides
                return None
            raise
    if ds.file_meta.get("TransferSyntaxUID") == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return ds, _inflated_has_pixels(fp)
    position = fp.tell()
    header = fp.read(12)
    has_pixels = header[:4] in _PIXEL_DATA_BYTES
    if partial:
        extent = _pixel_extent(ds, header, position) if has_pixels else None
        if extent is None or extent[1] == _UNDEFINED_LENGTH:
            return None
    if _is_truncated(ds, fp, size, header if has_pixels else None, position):
        raise InvalidPart10Error(TRUNCATED)
    return ds, has_pixels


def _inflated_has_pixels(fp: BinaryIO) -> bool:
    """Whether a deflated file (read whole: zlib fails on a truncated stream, so it needs no
    truncation check) has pixel data. Its offsets are those of the inflated bytes, so the file
    is read again, past the pixel data; deflated files are rare."""
    fp.seek(0)
    return PIXEL_DATA_TAG in dcmread(fp, defer_size=DEFER_SIZE)


def _pixel_extent(ds: Dataset, pixel_header: bytes, position: int) -> tuple[int, int] | None:
    """(start, length) of the pixel data value whose element header was read at ``position``;
    None if the element header itself is cut short."""
    implicit, little = ds.original_encoding
    if len(pixel_header) < (8 if implicit else 12):
        return None
    order = "little" if little else "big"
    if implicit:
        return position + 8, int.from_bytes(pixel_header[4:8], order)
    if pixel_header[4:6] in _LONG_LENGTH_VRS:
        return position + 12, int.from_bytes(pixel_header[8:12], order)
    return position + 8, int.from_bytes(pixel_header[6:8], order)


def _is_truncated(ds: Dataset, fp: BinaryIO, size: int, pixel_header: bytes | None,
                  position: int) -> bool:
    """Does the last element read, or the pixel data that follows, end beyond the file?"""
    last = max(ds.keys(), default=None)
    if last is not None:
        raw = ds.get_item(last)
        if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH:
            end = raw.value_tell + raw.length
            # Without pixel data the last element ends the file; a few bytes more are a
            # truncated element header that pydicom skipped.
            if end > size or (pixel_header is None and end != size):
                return True
    if pixel_header is None:
        return False
    extent = _pixel_extent(ds, pixel_header, position)
    if extent is None:
        return True
    start, length = extent
    if length != _UNDEFINED_LENGTH:
        return start + length > size
    # Encapsulated pixel data ends with a sequence delimitation item (PS3.5 §A.4).
    # Trailing padding may follow it, so look at the last few kilobytes.
    fp.seek(max(position, size - 4096))
    return _SEQUENCE_DELIMITER[bool(ds.original_encoding[1])] not in fp.read()


def pixel_vr(ds: Dataset) -> str:
    """The VR of the pixel data that follows the dataset (OB when encapsulated)."""
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if ts.startswith(ENCAPSULATED_PREFIXES) and ts != "1.2.840.10008.1.2.5.":
        return "OB"
    return "OW" if int(ds.get("BitsAllocated", 16) or 16) > 8 else "OB"

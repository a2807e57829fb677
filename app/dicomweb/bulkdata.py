"""Bulk data of a stored file by tag path (decisions §5): ``7FE00010``, ``00540016/0/00181072``.

Large top-level elements (PixelData above all) are located, not loaded: the caller streams the
byte range. Elements inside sequence items are small and read with the item.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from .pixels import SIZE_LIMIT, locate_pixel_data
from .tags import BINARY_VRS, vr_of

PIXEL_DATA = 0x7FE00010
_SEGMENT = re.compile(r"[0-9A-Fa-f]{8}")
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class BulkData:
    """Where an element's value is: a byte range of the file, or bytes already read."""

    offset: int = 0
    length: int = 0
    data: bytes | None = None


def parse_tag_path(text: str) -> list[int | str] | None:
    """``TTTTTTTT[/i/TTTTTTTT...]`` -> [tag, index, tag, ...]; None when malformed."""
    parts = text.split("/")
    if len(parts) % 2 == 0:
        return None
    parsed: list[int | str] = []
    for position, part in enumerate(parts):
        if position % 2 == 0:
            if not _SEGMENT.fullmatch(part):
                return None
            parsed.append(int(part, 16))
        else:
            if not (part.isascii() and part.isdigit()) or len(part) > 9:
                return None
            parsed.append(part)
    return parsed


def _value_bytes(ds: Dataset, tag: int) -> bytes | None:
    elem = ds.get_item(Tag(tag))
    if elem is None or ds[tag].VR not in BINARY_VRS:
        return None
    if isinstance(elem, RawDataElement) and elem.value is not None:
        return bytes(elem.value)
    value = ds[tag].value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


def locate_bulkdata(handle: BinaryIO, size: int, path: list[int | str]) -> BulkData | None:
    """Find the value of the element at ``path`` in a stored file; None when it is absent or
    not a binary value."""
    if path == [PIXEL_DATA]:
        layout = locate_pixel_data(handle, size)
        if layout is not None and layout.value_offset >= 0:
            length = layout.value_length
            if length is None:  # encapsulated: up to the sequence delimiter at the end
                handle.seek(max(0, size - 8))
                if handle.read(8) != _SEQUENCE_DELIMITER:
                    return _load(handle, size, path)
                length = size - 8 - layout.value_offset
            return BulkData(layout.value_offset, length)
    handle.seek(0)
    ds = dcmread(handle, stop_before_pixels=True, defer_size=64 * 1024)
    first = int(path[0])
    if first >= PIXEL_DATA:
        return _load(handle, size, path)
    if len(path) == 1:
        raw = ds.get_item(Tag(first))
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            vr = str(raw.VR) if raw.VR else (vr_of(first) or "UN")
            if not set(vr.split(" or ")) & BINARY_VRS:
                return None
            if raw.value_tell is not None and raw.length != 0xFFFFFFFF:
                return BulkData(raw.value_tell, raw.length)
    return _walk(ds, path)


def _load(handle: BinaryIO, size: int, path: list[int | str]) -> BulkData | None:
    if size > SIZE_LIMIT:
        return None
    handle.seek(0)
    return _walk(dcmread(handle), path)


def _walk(ds: Dataset, path: list[int | str]) -> BulkData | None:
    for position in range(0, len(path) - 1, 2):
        tag, index = int(path[position]), int(path[position + 1])
        if tag not in ds or ds[tag].VR != "SQ":
            return None
        items = ds[tag].value or []
        if index >= len(items):
            return None
        ds = items[index]
    if int(path[-1]) not in ds:
        return None
    data = _value_bytes(ds, int(path[-1]))
    return None if data is None else BulkData(0, len(data), data)

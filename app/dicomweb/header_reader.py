"""One pass over a Part-10 header held in memory: what ``dcmread(fp, stop_before_pixels=True,
defer_size=...)`` returns, for the common files, at a fraction of its cost (issue #23).

pydicom's reader is general (any transfer syntax, implicit VR switches, undefined lengths,
command sets, debug logging at every element). A STOW part is nearly always an explicit VR
little endian header of defined-length elements, read from the first bytes of the part kept in
memory (``part10.read``): ``read`` walks those bytes once and builds the same dataset pydicom
builds (the same ``RawDataElement`` for each element, the same ``FileMetaDataset`` and
``FileDataset`` state), then leaves converting, validating, indexing and JSON to the code that
handles pydicom's datasets. Anything else (another encoding, an undefined length, an unknown
VR, a group 0000 command set, bytes that end inside an element) returns None, and the caller
reads the part with pydicom. tests/unit/test_elements.py holds the result against pydicom's
for every sample file.
"""
from __future__ import annotations

import struct
from typing import Any, BinaryIO

import pydicom.uid
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

_PREAMBLE, _PREFIX = 128, b"DICM"
#: pydicom's ``_at_pixel_data`` (dcmread's stop_before_pixels): the elements reading stops at.
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})
#: Every VR pydicom knows, by its two bytes; and those with a 4-byte length in explicit VR.
_VRS = {str(vr).encode("ascii"): str(vr) for vr in VR}
_LONG_LENGTH = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_HEADER = struct.Struct("<HH2sH")
_LONG = struct.Struct("<L")
_UNDEFINED_LENGTH = 0xFFFFFFFF
_SPECIFIC_CHARACTER_SET = 0x00080005
#: Transfer syntaxes whose data set pydicom does not read as explicit VR little endian.
_OTHER_ENCODINGS = frozenset({pydicom.uid.ImplicitVRLittleEndian,
                              pydicom.uid.ExplicitVRBigEndian,
                              pydicom.uid.DeflatedExplicitVRLittleEndian})

_Elements = dict[BaseTag, RawDataElement]


def read(data: bytes, source: BinaryIO, defer_size: int) -> tuple[FileDataset, int] | None:
    """The dataset ``dcmread(source, stop_before_pixels=True, defer_size=defer_size)`` reads
    from ``data`` (the bytes ``source`` holds from its start), and the position it leaves
    ``source`` at; None when this reader does not handle the file (read it with pydicom)."""
    if data[_PREAMBLE:_PREAMBLE + 4] != _PREFIX:
        return None
    found = _elements(data, _PREAMBLE + 4, None, meta=True)
    if found is None or not found[0]:
        return None
    file_meta = _file_meta(found[0])
    position = found[1]
    if file_meta is None or position >= len(data) or data[position:position + 2] == b"\0\0":
        return None  # no data set, or a group 0000 command set: pydicom's special cases
    transfer_syntax = file_meta.get("TransferSyntaxUID")
    if (transfer_syntax is None or transfer_syntax in _OTHER_ENCODINGS
            or transfer_syntax in pydicom.uid.PrivateTransferSyntaxes):
        return None
    found = _elements(data, position, defer_size, meta=False)
    if found is None:
        return None
    elements, position = found
    charset = elements.get(_SPECIFIC_CHARACTER_SET)
    if charset is not None:
        try:  # what pydicom's read_dataset does with it first; may fail (then pydicom decides)
            convert_encodings(convert_raw_data_element(charset).value)
        except Exception:
            return None
    ds = FileDataset(source, elements, data[:_PREAMBLE], file_meta, False, True)
    ds.set_original_encoding(False, True, ds._character_set)
    return ds, position


def _elements(data: bytes, position: int, defer_size: int | None, meta: bool
              ) -> tuple[_Elements, int] | None:
    """The explicit VR little endian elements from ``position``: the file meta group
    (``meta``), or the data set up to the pixel data; and where reading stopped (the start of
    the first element not read). None for anything this reader leaves to pydicom."""
    elements: _Elements = {}
    end = len(data)
    unpack, unpack_long, vrs, long_length = (_HEADER.unpack_from, _LONG.unpack_from, _VRS,
                                             _LONG_LENGTH)
    while position < end:
        if position + 8 > end:
            return None
        group, number, vr_bytes, length = unpack(data, position)
        vr = vrs.get(vr_bytes)
        if vr is None:  # implicit VR, or a VR pydicom guesses about
            return None
        value_tell = position + 8
        if vr in long_length:
            if position + 12 > end:
                return None
            length = unpack_long(data, value_tell)[0]
            value_tell += 4
        if group == 0xFFFE:  # an item or delimiter outside a sequence
            return None
        if (group != 2) if meta else (group << 16 | number) in _PIXEL_TAGS:
            break
        if length == _UNDEFINED_LENGTH or value_tell + length > end:
            return None
        tag = BaseTag(group << 16 | number)
        value: Any
        if defer_size is not None and length > defer_size and tag != _SPECIFIC_CHARACTER_SET:
            value = None  # deferred, as dcmread does with larger values
        elif length:
            value = data[value_tell:value_tell + length]
        else:
            value = empty_value_for_VR(vr, raw=True)
        elements[tag] = RawDataElement(tag, vr, length, value, value_tell, False, True)
        position = value_tell + length
    return elements, position


def _file_meta(elements: _Elements) -> FileMetaDataset | None:
    """The FileMetaDataset of these group 0002 elements, in the state pydicom leaves it (its
    first element and the group length converted); None where pydicom would read it again as
    implicit VR."""
    file_meta = FileMetaDataset(elements)
    file_meta.set_original_encoding(False, True, default_encoding)
    try:
        file_meta[next(iter(elements))]
    except NotImplementedError:
        return None
    if "FileMetaInformationGroupLength" in file_meta:
        file_meta.FileMetaInformationGroupLength  # converted, as pydicom's length check does
    return file_meta

"""Pixel data: locate it in a stored file, cut frames, transcode (reference.md §4.2, decisions §5).

Decoding uses pydicom's pixel handlers (pylibjpeg with its libjpeg, openjpeg and rle plugins;
python-gdcm as a fallback). Frames of uncompressed and encapsulated data are read straight from
the file at their offsets; nothing but the requested frames is loaded.
"""
from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.pixels.utils import pack_bits

from ..errors import NotAcceptableError

logger = logging.getLogger(__name__)


def _without_plugin_tracebacks(record: logging.LogRecord) -> bool:
    """pydicom logs each codec plugin that fails with its traceback (``LOGGER.exception``), then
    raises the summary of every plugin's message, which the callers here turn into a 406 and
    log once as a warning. Pixel data a codec cannot read is bad input, not a server fault: no
    traceback in the log for it."""
    return record.exc_info is None


for _name in ("pydicom.pixels.decoders.base", "pydicom.pixels.encoders.base"):
    logging.getLogger(_name).addFilter(_without_plugin_tracebacks)

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
#: Files larger than this are not parsed, transcoded or rendered (reference.md §4.2, §13).
SIZE_LIMIT = 104857600
#: Source transfer syntaxes we can transcode from (each decodes with the installed handlers).
TRANSCODABLE_SOURCES = frozenset({
    IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    JPEG_2000_LOSSLESS,
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE lossless
})
TRANSCODE_TARGETS = frozenset({EXPLICIT_VR_LITTLE_ENDIAN, JPEG_2000_LOSSLESS})
_NATIVE = frozenset({IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN,
                     DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN})
_PIXEL_DATA_TAGS = {b"\xe0\x7f\x10\x00": "<", b"\x7f\xe0\x00\x10": ">"}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}

TRANSCODING_NOT_SUPPORTED = "The specified transcoding is not supported."
SIZE_ABOVE_LIMIT = (
    "Requested DICOM instance size is above the supported limit of {0}. The entire instance "
    "can be retrieved with the original transfer syntax by specifying 'transfer-syntax=*' in "
    "the Accept header.")


class TranscodingError(NotAcceptableError):
    """The codec cannot produce the requested transfer syntax (406, reference.md §4.2)."""

    message = TRANSCODING_NOT_SUPPORTED


def check_size(size: int) -> None:
    """Raise the reference's 406 for a file too large to parse or transcode."""
    if size > SIZE_LIMIT:
        raise NotAcceptableError(SIZE_ABOVE_LIMIT.format(SIZE_LIMIT))


def is_encapsulated(transfer_syntax: str | None) -> bool:
    return transfer_syntax is not None and transfer_syntax not in _NATIVE


def needs_transcoding(stored: str | None, requested: str) -> bool:
    """Whether the stored file must be transcoded (an unknown stored syntax counts as different;
    implicit little endian is served as explicit: its pixel bytes are identical)."""
    return requested != "*" and stored != requested


@dataclass(frozen=True, slots=True)
class PixelLayout:
    """Where the pixel data of a stored file is, and how its frames are laid out."""

    dataset: Dataset  # every element before the pixel data
    transfer_syntax: str
    value_offset: int  # file offset of the pixel data value
    value_length: int | None  # None: undefined length (encapsulated)
    number_of_frames: int

    @property
    def encapsulated(self) -> bool:
        return is_encapsulated(self.transfer_syntax)

    @property
    def frame_bits(self) -> int:
        ds = self.dataset
        return (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
                * int(ds.BitsAllocated))


def locate_pixel_data(handle: BinaryIO, size: int) -> PixelLayout | None:
    """Parse a stored file up to its pixel data; None when it has none.

    A deflated file has no usable offsets: it is inflated whole (``size`` is checked against
    the limit first).
    """
    handle.seek(0)
    ds = dcmread(handle, stop_before_pixels=True, defer_size=64 * 1024)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        check_size(size)
        handle.seek(0)
        full = dcmread(handle)
        if "PixelData" not in full or "Rows" not in full or "BitsAllocated" not in full:
            return None
        return PixelLayout(ds, syntax, -1, None, _number_of_frames(ds))
    start = handle.tell()
    header = handle.read(12)
    order = _PIXEL_DATA_TAGS.get(header[:4])
    if order is None or "Rows" not in ds or "BitsAllocated" not in ds:
        return None
    if syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        (length,), offset = struct.unpack("<L", header[4:8]), start + 8
    elif header[4:6] in _LONG_VRS:
        (length,), offset = struct.unpack(order + "L", header[8:12]), start + 12
    else:
        (length,), offset = struct.unpack(order + "H", header[6:8]), start + 8
    frames = _number_of_frames(ds)
    return PixelLayout(ds, syntax, offset, None if length == 0xFFFFFFFF else length, frames)


def read_header(handle: BinaryIO) -> Dataset:
    """Every element before the pixel data (what the decoded-size check needs)."""
    handle.seek(0)
    return dcmread(handle, stop_before_pixels=True, defer_size=64 * 1024)


def frame_decodes(layout: PixelLayout, target: str | None) -> bool:
    """Whether producing a frame of ``layout`` in ``target`` (None: as stored) runs a codec."""
    stored = layout.transfer_syntax
    if stored == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN or layout.frame_bits % 8:
        return True
    if target is None or target == stored:
        return False
    return not (target == EXPLICIT_VR_LITTLE_ENDIAN and stored == IMPLICIT_VR_LITTLE_ENDIAN)


def _number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def read_frame(handle: BinaryIO, layout: PixelLayout, index: int) -> bytes:
    """The bytes of frame ``index`` (0-based) in the stored transfer syntax."""
    if layout.transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        arr = decode_frame(handle, index, layout.transfer_syntax)
        return pack_bits(arr) if layout.frame_bits % 8 else _little_endian_bytes(arr)
    if layout.encapsulated:
        handle.seek(layout.value_offset)
        return get_frame(handle, index, number_of_frames=layout.number_of_frames)
    bits = layout.frame_bits
    if bits % 8:  # BitsAllocated 1: frames are not byte aligned
        return pack_bits(decode_frame(handle, index, layout.transfer_syntax))
    size = bits // 8
    handle.seek(layout.value_offset + index * size)
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("pixel data is shorter than its frames")
    return data


def decode_frame(handle: BinaryIO, index: int, transfer_syntax: str | None,
                 ds_out: Dataset | None = None) -> np.ndarray:
    """Frame ``index`` (0-based) decoded to a native array (YCbCr converted to RGB)."""
    handle.seek(0)
    if transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        ds = dcmread(handle)  # deflated: no offsets, the caller checked the size limit
        if ds_out is not None:
            ds_out.update({tag: ds[tag] for tag in ds.keys() if int(tag) < 0x7FE00010})
        return pixel_array(ds, index=index)
    return pixel_array(handle, ds_out=ds_out, index=index)


def _little_endian_bytes(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False)).tobytes()


def frame_as_explicit_little_endian(handle: BinaryIO, layout: PixelLayout, index: int) -> bytes:
    """Frame ``index`` in Explicit VR Little Endian: stored bytes when they already are."""
    if layout.transfer_syntax in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN,
                                  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN):
        return read_frame(handle, layout, index)
    try:
        arr = decode_frame(handle, index, layout.transfer_syntax)
    except Exception as exc:
        logger.warning("Decoding a frame failed: %s", exc)
        raise TranscodingError() from None
    return pack_bits(arr) if layout.frame_bits % 8 else _little_endian_bytes(arr)


def frame_as_jpeg_2000(handle: BinaryIO, layout: PixelLayout, index: int) -> bytes:
    """Frame ``index`` encoded as a lossless JPEG 2000 codestream (``image/jp2`` parts)."""
    if layout.transfer_syntax == JPEG_2000_LOSSLESS:
        return read_frame(handle, layout, index)
    try:
        from pydicom.pixels.encoders import JPEG2000LosslessEncoder

        arr = decode_frame(handle, index, layout.transfer_syntax)
        ds = layout.dataset
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        photometric = "RGB" if samples == 3 else str(ds.PhotometricInterpretation)
        return JPEG2000LosslessEncoder.encode(
            arr, rows=int(ds.Rows), columns=int(ds.Columns), samples_per_pixel=samples,
            bits_allocated=int(ds.BitsAllocated), bits_stored=int(ds.BitsStored),
            pixel_representation=int(ds.PixelRepresentation),
            photometric_interpretation=photometric, number_of_frames=1,
            planar_configuration=0)
    except Exception as exc:
        logger.warning("Encoding a frame as JPEG 2000 failed: %s", exc)
        raise TranscodingError() from None


def transcode(handle: BinaryIO, target: str, out: BinaryIO) -> None:
    """Write the stored file re-encoded in ``target`` (Explicit VR Little Endian or lossless
    JPEG 2000) to ``out``. The SOP Instance UID is kept.

    Raises TranscodingError when a codec fails or the target is not supported.
    """
    if target not in TRANSCODE_TARGETS:
        raise TranscodingError()
    try:
        handle.seek(0)
        ds = dcmread(handle)
        source = str(ds.file_meta.get("TransferSyntaxUID", ""))
        if source not in TRANSCODABLE_SOURCES:
            raise TranscodingError()
        if "PixelData" in ds:
            if is_encapsulated(source):
                ds.decompress(generate_instance_uid=False)
            elif source == EXPLICIT_VR_BIG_ENDIAN:
                arr = ds.pixel_array
                ds.PixelData = np.ascontiguousarray(
                    arr.astype(arr.dtype.newbyteorder("<"))).tobytes()
                ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
        ds.file_meta.TransferSyntaxUID = EXPLICIT_VR_LITTLE_ENDIAN
        if target == JPEG_2000_LOSSLESS and "PixelData" in ds:
            ds.compress(JPEG_2000_LOSSLESS, generate_instance_uid=False)
        ds.file_meta.TransferSyntaxUID = target
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True, implicit_vr=False, little_endian=True)
        out.write(buffer.getbuffer())
    except TranscodingError:
        raise
    except Exception as exc:
        logger.warning("Transcoding to %s failed: %s", target, exc)
        raise TranscodingError() from None



"""Rendered frames (PS3.18 §9.5, reference.md §4.5): pixel data to an 8-bit JPEG or PNG.

Grayscale: modality LUT, then the first VOI window (PS3.3 C.11.2.1.2) or VOI LUT, else the
frame's own min/max; MONOCHROME1 is inverted. Color: YCbCr is converted to RGB by the decoder,
PALETTE COLOR goes through its LUT. Images are encoded with Pillow.
"""
from __future__ import annotations

import io
import logging
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from ..errors import BadRequestError, NotAcceptableError
from .numbers import parse_integer
from .pixels import SIZE_LIMIT, decode_frame

logger = logging.getLogger(__name__)

RENDER_FAILED = "An error was encountered when attempting to convert the dicom file into an image"
RENDER_SIZE_ABOVE_LIMIT = (
    "Requested DICOM instance size is above the supported limit of {0} for rendering. Please "
    "retrieve the whole file in the original transfer syntax instead of rendering to image "
    "media type.")
INVALID_QUALITY = "Image quality must be between 1 and 100 inclusive"


class RenderingError(NotAcceptableError):
    message = RENDER_FAILED


def parse_quality(text: str | None) -> int:
    """The ``quality`` query parameter: an integer 1..100, default 100."""
    if text is None:
        return 100
    try:
        value = parse_integer(text)
    except ValueError:
        raise BadRequestError(INVALID_QUALITY) from None
    if not 1 <= value <= 100:
        raise BadRequestError(INVALID_QUALITY)
    return value


def check_render_size(size: int) -> None:
    if size > SIZE_LIMIT:
        raise NotAcceptableError(RENDER_SIZE_ABOVE_LIMIT.format(SIZE_LIMIT))


def _first(value: object) -> float | None:
    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return ((values - low) * (255.0 / (high - low))).clip(0, 255).astype(np.uint8)


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear VOI window, PS3.3 C.11.2.1.2.1, to 0..255."""
    if width <= 1:
        return np.where(values <= center - 0.5, 0, 255).astype(np.uint8)
    scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return scaled.clip(0, 255).astype(np.uint8)


def _grayscale(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    values = apply_modality_lut(arr, ds).astype(np.float64)
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None:
        image = _window(values, center, width)
    elif "VOILUTSequence" in ds:
        image = _stretch(apply_voi_lut(arr, ds, index=0).astype(np.float64))
    else:
        image = _stretch(values)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        image = 255 - image
    return image


def _color(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    if str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        bits = 16 if arr.dtype.itemsize > 1 else 8
    else:
        bits = int(ds.get("BitsStored", 8) or 8)
    if arr.dtype == np.uint8 and bits <= 8:
        return arr
    return (arr.astype(np.float64) * (255.0 / (2 ** bits - 1))).clip(0, 255).astype(np.uint8)


def render_frame(handle: BinaryIO, transfer_syntax: str | None, index: int, media_type: str,
                 quality: int) -> bytes:
    """Frame ``index`` (0-based) of a stored file as ``image/jpeg`` or ``image/png`` bytes.

    Raises RenderingError (406) when the frame cannot be decoded or converted.
    """
    ds = Dataset()
    try:
        arr = decode_frame(handle, index, transfer_syntax, ds_out=ds)
        palette = str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR"
        if arr.ndim == 3 or palette:
            image = Image.fromarray(np.ascontiguousarray(_color(arr, ds)))
        else:
            image = Image.fromarray(np.ascontiguousarray(_grayscale(arr, ds)))
        buffer = io.BytesIO()
        if media_type == "image/png":
            image.save(buffer, format="PNG")
        else:
            image.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()
    except Exception as exc:
        logger.warning("Rendering frame %s failed: %s", index + 1, exc)
        raise RenderingError() from None

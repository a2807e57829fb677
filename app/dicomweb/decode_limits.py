"""Limits on decoding pixel data (issue #15): a few bytes of JPEG 2000 can declare gigabytes of
pixels, so the decoded size is computed from the header and checked before any codec runs, and
only so many decodes run at once in a process.

Decoded size = Rows x Columns x SamplesPerPixel x BitsAllocated / 8 x frames decoded. Rendering
works on float64 copies of a frame, so it counts 8 bytes per sample instead.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from pydicom.dataset import Dataset

from ..errors import DicomServerError, NotAcceptableError

DECODED_SIZE_ABOVE_LIMIT = (
    "The decoded pixel data of the requested DICOM instance ({0} bytes) is above the supported "
    "limit of {1} bytes (DICOM_MAX_DECODED_SIZE). The entire instance can be retrieved with the "
    "original transfer syntax by specifying 'transfer-syntax=*' in the Accept header.")
RENDER_DECODED_SIZE_ABOVE_LIMIT = (
    "Rendering the requested frame needs {0} bytes, above the supported limit of {1} bytes "
    "(DICOM_MAX_DECODED_SIZE). Please retrieve the whole file in the original transfer syntax "
    "instead of rendering to image media type.")
DECODERS_BUSY = "Too many images are being decoded at the moment. Please retry later."
#: Bytes per sample of rendering's working copies (float64).
RENDER_BYTES_PER_SAMPLE = 8
#: Seconds a request waits for a decode slot before it is answered 503.
SLOT_WAIT_SECONDS = 60.0


class DecodersBusyError(DicomServerError):
    """Every decode slot stayed busy for SLOT_WAIT_SECONDS (503)."""

    message = DECODERS_BUSY


def _int(ds: Dataset, keyword: str, default: int = 0) -> int:
    try:
        return max(0, int(ds.get(keyword) or default))
    except (TypeError, ValueError):
        return default


def frame_samples(ds: Dataset) -> int:
    """Samples in one frame: Rows x Columns x SamplesPerPixel."""
    return _int(ds, "Rows") * _int(ds, "Columns") * _int(ds, "SamplesPerPixel", 1)


def decoded_size(ds: Dataset, frames: int = 1) -> int:
    """Bytes of ``frames`` decoded frames of a dataset (its header: no pixel data needed)."""
    bits = frame_samples(ds) * _int(ds, "BitsAllocated", 8) * frames
    return (bits + 7) // 8


def number_of_frames(ds: Dataset) -> int:
    return max(1, _int(ds, "NumberOfFrames", 1))


@dataclass(frozen=True)
class DecodeLimits:
    """The largest decoded size a request may ask for, and the decode slots of a process."""

    max_bytes: int
    concurrency: int
    wait_seconds: float = SLOT_WAIT_SECONDS
    _slots: threading.BoundedSemaphore = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slots", threading.BoundedSemaphore(self.concurrency))

    def check(self, ds: Dataset, frames: int = 1) -> None:
        """406 naming the limit when decoding ``frames`` frames of ``ds`` is too large."""
        size = decoded_size(ds, frames)
        if size > self.max_bytes:
            raise NotAcceptableError(DECODED_SIZE_ABOVE_LIMIT.format(size, self.max_bytes))

    def check_render(self, ds: Dataset) -> None:
        size = frame_samples(ds) * RENDER_BYTES_PER_SAMPLE
        if size > self.max_bytes:
            raise NotAcceptableError(RENDER_DECODED_SIZE_ABOVE_LIMIT.format(size,
                                                                            self.max_bytes))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the process's decode slots (503 after ``wait_seconds``)."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise DecodersBusyError()
        try:
            yield
        finally:
            self._slots.release()

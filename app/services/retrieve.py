"""WADO-RS: retrieve studies, series, instances, frames, rendered images and bulk data
(PS3.18 §10.4, reference.md §4, decisions §5; metadata: retrieve_metadata.py).

Every function reads the index first and checks that the files exist, so errors are raised
before a response starts; the views then stream files without touching the database.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

from pydicom.dataset import Dataset

from ..blobs import BlobStore
from ..dao import retrieve as dao
from ..db import DbConn
from ..dicomweb import pixels
from ..dicomweb.accept import JP2, ORIGINAL, Negotiated
from ..dicomweb.bulkdata import locate_bulkdata, parse_tag_path
from ..dicomweb.decode_limits import DecodeLimits, number_of_frames
from ..dicomweb.multipart import FilePart, discard
from ..dicomweb.rendering import check_render_size, render_frame
from ..errors import (BlobNotFoundError, FrameNotFoundError, InstanceNotFoundError,
                      ResourceNotFoundError, SeriesNotFoundError, StudyNotFoundError)
from ..models import Partition, VersionedInstance

_T = TypeVar("_T")

logger = logging.getLogger(__name__)


class BulkDataNotFoundError(ResourceNotFoundError):
    message = "The specified bulk data cannot be found."


@dataclass(frozen=True, slots=True)
class ResourceIds:
    """The UIDs of a study, series (``series`` set) or instance (all three set) in the partition
    named ``partition_name`` (any case: the queries find it in the same statement)."""

    partition_name: str
    study: str
    series: str | None = None
    sop: str | None = None

    def not_found(self) -> ResourceNotFoundError:
        if self.sop is not None:
            return InstanceNotFoundError()
        return SeriesNotFoundError() if self.series is not None else StudyNotFoundError()


def _retry_if_deleted(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run a retrieve again once when a file is missing: a concurrent delete may have removed
    the instance between the index lookup and opening its file. The second run sees the index
    after the delete (404, or the remaining instances); a file still missing for an instance
    that still exists is a real loss (500)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except BlobNotFoundError:
            logger.info("A file was missing; retrying once in case the instance was deleted")
            return fn(*args, **kwargs)
    return wrapper


def _instances(conn: DbConn, ids: ResourceIds) -> tuple[Partition, list[VersionedInstance]]:
    """The partition as stored and the visible instances; the resource's 404 if none."""
    partition, rows = dao.list_instances(conn, ids.partition_name, ids.study, ids.series,
                                         ids.sop)
    if partition is None:
        raise ids.not_found()
    return partition, rows


def _missing(instance: VersionedInstance) -> BlobNotFoundError:
    logger.error("The file of instance %s (blob %s) is missing from the blob store",
                 instance.sop_instance_uid, instance.blob_key)
    return BlobNotFoundError()


def _check_blob(blobs: BlobStore, instance: VersionedInstance) -> None:
    if not blobs.exists(instance.blob_key):
        raise _missing(instance)


def _open_whole(blobs: BlobStore, instance: VersionedInstance) -> BinaryIO:
    """A sequential handle on an instance's whole file (object storage: the GET, whose 404
    tells a missing object without a HEAD first)."""
    try:
        return blobs.open_range(instance.blob_key, 0, instance.blob_size, instance.blob_size)
    except (FileNotFoundError, IsADirectoryError):
        raise _missing(instance) from None


def _open(blobs: BlobStore, instance: VersionedInstance) -> BinaryIO:
    """A seekable handle on an instance's file (in object storage each read past its buffer
    is a ranged GET: a frame costs its bytes, not the file's)."""
    try:
        handle = blobs.open_seekable(instance.blob_key, instance.blob_size)
    except (FileNotFoundError, IsADirectoryError):
        raise _missing(instance) from None
    try:
        # The head, read now: a blob missing from object storage shows here.
        handle.peek(1)  # type: ignore[attr-defined]
    except FileNotFoundError:
        handle.close()
        raise _missing(instance) from None
    except BaseException:
        handle.close()
        raise
    return handle


def _transcoded(blobs: BlobStore, instance: VersionedInstance, target: str,
                limits: DecodeLimits) -> FilePart:
    pixels.check_size(instance.blob_size)
    if instance.transfer_syntax_uid not in pixels.TRANSCODABLE_SOURCES:
        raise pixels.TranscodingError()
    with _open(blobs, instance) as source:
        header = pixels.read_header(source)
        limits.check(header, number_of_frames(header))
        fd, name = tempfile.mkstemp(dir=blobs.tmp, prefix="transcode-")
        try:
            with os.fdopen(fd, "wb") as out, limits.slot():
                pixels.transcode(source, target, out)
            return FilePart(Path(name), target, 0, os.path.getsize(name), temporary=True,
                            whole=True)
        except BaseException:
            os.unlink(name)
            raise


@_retry_if_deleted
def retrieve_files(conn: DbConn, blobs: BlobStore, ids: ResourceIds,
                   transfer_syntax: str, limits: DecodeLimits,
                   original: bool = False) -> tuple[Partition, list[FilePart]]:
    """The partition as stored and the files of a study, series or instance, each in
    ``transfer_syntax`` (``*``: as stored); with ``original``, an updated instance's file as
    first stored (reference-2.md §2.4).

    Files that need transcoding are transcoded now, into temporary files, so a codec failure
    is a 406 before anything is sent (decisions §5: each instance is transcoded as needed).
    """
    parts: list[FilePart] = []
    partition, instances = _instances(conn, ids)
    # In object storage each check is a request: a study or series is streamed without them
    # (an object missing mid-stream ends the body early, as a file removed mid-stream does).
    # One instance is checked by opening it now (its GET; a file: no separate stat): 404
    # after a concurrent delete, 500 for a loss. In object storage a study's or series' first
    # object is opened now too, so a store that fails answers 503 before the body.
    opened = False
    try:
        for instance in instances:
            if original:
                instance = instance.original()
            stored = instance.transfer_syntax_uid or ""
            if pixels.needs_transcoding(stored, transfer_syntax):
                parts.append(_transcoded(blobs, instance, transfer_syntax, limits))
            else:
                part = FilePart(None, stored, 0, instance.blob_size, blobs=blobs,
                                key=instance.blob_key, whole=True)
                if len(instances) == 1 or not (blobs.cheap_exists or opened):
                    part.opened.append(_open_whole(blobs, instance))
                    opened = True
                elif blobs.cheap_exists:
                    _check_blob(blobs, instance)
                parts.append(part)
    except BaseException:
        discard(parts)
        raise
    return partition, parts


@_retry_if_deleted
def retrieve_frames(conn: DbConn, blobs: BlobStore, ids: ResourceIds,
                    frames: list[int], negotiated: Negotiated,
                    limits: DecodeLimits) -> tuple[Partition, Iterator[bytes], str]:
    """The partition as stored, the requested frames (1-based) of an instance, streamed from
    its file, and the transfer syntax they are in.

    Everything that can fail with a status is checked, and the first frame produced, before
    this returns; the later frames are read (or decoded, one at a time, each in a decode slot)
    as the response is sent. A later frame that cannot be produced ends the body early.
    """
    partition, [instance, *_] = _instances(conn, ids)
    layout = _LAYOUTS.get(instance.blob_key) if negotiated.media_type != JP2 else None
    if layout is not None and pixels.frame_decodes(layout, _target(negotiated)):
        layout = None  # decoded from the whole header: read it
    if layout is None:
        handle = _open(blobs, instance)
    else:  # the header was read before: straight to the frames' bytes
        try:
            handle = blobs.open_seekable(instance.blob_key, instance.blob_size)
        except FileNotFoundError:
            raise _missing(instance) from None
    try:
        if layout is None:
            layout = _layout(handle, instance)
            _LAYOUTS.put(instance.blob_key, layout)
        if any(frame > layout.number_of_frames for frame in frames):
            raise FrameNotFoundError()
        produce, syntax = _frame_producer(handle, layout, negotiated)
        if pixels.frame_decodes(layout, _target(negotiated)):
            limits.check(layout.dataset)
            produce = _in_slot(produce, limits)
        try:
            first = produce(frames[0] - 1)
        except (ValueError, EOFError) as exc:  # a stored file whose pixel data is too short
            logger.warning("Cannot read the frames of %s: %s", instance.sop_instance_uid, exc)
            raise FrameNotFoundError() from None
        except FileNotFoundError:  # gone since its layout was cached
            raise _missing(instance) from None
    except BaseException:
        handle.close()
        raise
    return partition, _stream_frames(handle, first, produce, frames[1:], instance), syntax


class _LayoutCache:
    """The frame layouts (pixel data offset, frame size, frame count) of recently read files,
    by blob key: content-addressed, so never stale. A viewer fetching an instance's frames one
    request at a time has its header parsed once (in object storage: one ranged GET less per
    request). Only layouts whose frames are read without decoding are kept, with just the
    attributes that needs; a request that decodes reads the header."""

    _ATTRIBUTES = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated")

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, pixels.PixelLayout] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> pixels.PixelLayout | None:
        with self._lock:
            layout = self._items.get(key)
            if layout is not None:
                self._items.move_to_end(key)
            return layout

    def put(self, key: str, layout: pixels.PixelLayout) -> None:
        if layout.value_offset < 0 or pixels.frame_decodes(layout, None):
            return  # deflated, or 1-bit frames: decoded, from the whole dataset
        small = Dataset()
        for name in self._ATTRIBUTES:
            if name in layout.dataset:
                setattr(small, name, layout.dataset[name].value)
        with self._lock:
            self._items[key] = replace(layout, dataset=small)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_LAYOUTS = _LayoutCache()


def _target(negotiated: Negotiated) -> str | None:
    """The transfer syntax frames are produced in (None: as stored)."""
    if negotiated.media_type == JP2:
        return pixels.JPEG_2000_LOSSLESS
    return None if negotiated.transfer_syntax == ORIGINAL else negotiated.transfer_syntax


def _frame_producer(handle, layout: pixels.PixelLayout,
                    negotiated: Negotiated) -> tuple[Callable[[int], bytes], str]:
    syntax = negotiated.transfer_syntax
    if negotiated.media_type == JP2:
        return functools.partial(pixels.frame_as_jpeg_2000, handle, layout), syntax
    if syntax == ORIGINAL:
        return functools.partial(pixels.read_frame, handle, layout), layout.transfer_syntax
    if layout.transfer_syntax not in pixels.TRANSCODABLE_SOURCES:
        raise pixels.TranscodingError()
    return functools.partial(pixels.frame_as_explicit_little_endian, handle, layout), syntax


def _in_slot(produce: Callable[[int], bytes], limits: DecodeLimits) -> Callable[[int], bytes]:
    def decode(index: int) -> bytes:
        with limits.slot():
            return produce(index)
    return decode


def _stream_frames(handle, first: bytes, produce: Callable[[int], bytes], rest: list[int],
                   instance: VersionedInstance) -> Iterator[bytes]:
    try:
        yield first
        for frame in rest:
            try:
                data = produce(frame - 1)
            except Exception as exc:  # the status is sent: end the body early
                logger.warning("Frame %s of %s failed while streaming: %s", frame,
                               instance.sop_instance_uid, exc)
                return
            yield data
    finally:
        handle.close()


def _layout(handle, instance: VersionedInstance) -> pixels.PixelLayout:
    try:
        layout = pixels.locate_pixel_data(handle, instance.blob_size)
    except pixels.TranscodingError:
        raise
    except (ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("Cannot read the pixel data of %s: %s", instance.sop_instance_uid, exc)
        layout = None
    if layout is None:
        raise FrameNotFoundError()
    return layout


@_retry_if_deleted
def retrieve_rendered(conn: DbConn, blobs: BlobStore, ids: ResourceIds, frame: int,
                      media_type: str, quality: int,
                      limits: DecodeLimits) -> tuple[Partition, bytes]:
    """The partition as stored and frame ``frame`` (1-based) of an instance rendered as
    ``media_type``."""
    partition, [instance, *_] = _instances(conn, ids)
    check_render_size(instance.blob_size)
    with _open(blobs, instance) as handle:
        layout = _layout(handle, instance)
        if frame > layout.number_of_frames:
            raise FrameNotFoundError()
        limits.check_render(layout.dataset)
        with limits.slot():
            return partition, render_frame(handle, layout.transfer_syntax, frame - 1,
                                           media_type, quality)


@_retry_if_deleted
def retrieve_bulkdata(conn: DbConn, blobs: BlobStore, ids: ResourceIds,
                      tag_path: str) -> tuple[Partition, FilePart | bytes, str]:
    """The partition as stored, the value of a binary element of an instance (decisions §5)
    and the stored transfer syntax: a file range to stream, or the bytes of a small element
    inside a sequence."""
    path = parse_tag_path(tag_path)
    if path is None:
        raise BulkDataNotFoundError()
    partition, [instance, *_] = _instances(conn, ids)
    stored = instance.transfer_syntax_uid or ""
    with _open(blobs, instance) as handle:
        try:
            found = locate_bulkdata(handle, instance.blob_size, path)
        except (ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("Cannot read bulk data of %s: %s", instance.sop_instance_uid, exc)
            found = None
    if found is None:
        raise BulkDataNotFoundError()
    if found.data is not None:
        return partition, found.data, stored
    return partition, FilePart(None, stored, found.offset, found.length, blobs=blobs,
                               key=instance.blob_key, blob_size=instance.blob_size), stored

"""WADO-RS: ``GET [/vN][/partitions/{p}]/studies/{study}[/series/{series}[/instances/{instance}]]``
with ``/metadata``, ``/frames/{n,..}``, ``/rendered`` and ``/bulkdata/{tag path}``
(PS3.18 §10.4, reference.md §4, decisions §5)."""
from __future__ import annotations

from contextlib import closing
from typing import Iterable

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.wsgi import wrap_file

from .. import metrics
from ..dicomweb import accept, media_types
from ..dicomweb.identifiers import SERIES, SOP, STUDY, validate_uid
from ..dicomweb.multipart import (FileBody, FilePart, MultipartFiles, content_type,
                                  multipart_bytes)
from ..dicomweb.numbers import int32
from ..dicomweb.rendering import parse_quality
from ..errors import BadRequestError, FrameNotFoundError
from ..partitioning import (by_partition_name, partition_found, requested_partition_name,
                            resource_base_url, scope)
from ..services import retrieve as service
from ..services.retrieve import ResourceIds
from ..services.retrieve_metadata import retrieve_metadata
from .edge import (dicom_json_accept_filter, get_blobstore, get_db, get_decode_limits,
                   streamed_with_db)

bp = scope(Blueprint("wado", __name__))

INSTANCE = "/studies/<study>/series/<series>/instances/<instance>"
INVALID_FRAMES = ("The specified frames value is not valid. At least one frame must be present, "
                  "and all requested frames must have value greater than 0.")
SINGLE_FRAME_ONLY = ("The accept header is supported for single frame retrieval, use multi-part "
                     "accept header instead.")
TOO_MANY_FRAMES = ("The specified frames value is not valid. At most {0} frames may be requested "
                   "at once (DICOM_MAX_FRAMES_PER_REQUEST).")
DUPLICATE_FRAMES = "The specified frames value is not valid. Each frame may be requested only once."
#: Bulk update: with "true" (its first value, any case), study, series and instance retrieves
#: and their metadata return each instance as first stored (reference-2.md §2.4).
ORIGINAL_VERSION_HEADER = "msdicom-request-original"


def _ids(study: str, series: str | None = None, instance: str | None = None) -> ResourceIds:
    """Validate the path UIDs (reference.md §4.1) in the partition of the request."""
    return ResourceIds(
        requested_partition_name(), validate_uid(study, STUDY),
        None if series is None else validate_uid(series, SERIES),
        None if instance is None else validate_uid(instance, SOP))


def parse_frames(text: str, limit: int) -> list[int]:
    """``1,3,5`` -> [1, 3, 5] (1-based), or the reference's 400s; 400 for a frame asked
    twice or more than ``limit`` frames (decisions: WADO)."""
    items = text.split(",")
    if len(items) > limit:
        raise BadRequestError(TOO_MANY_FRAMES.format(limit))
    frames = []
    for item in items:
        if not item.strip():
            raise BadRequestError(INVALID_FRAMES)
        frame = int32("frames", item)
        if frame <= 0:
            raise BadRequestError(INVALID_FRAMES)
        frames.append(frame)
    if len(set(frames)) != len(frames):
        raise BadRequestError(DUPLICATE_FRAMES)
    return frames


def _multipart_bytes(parts: Iterable[bytes], media_type: str, transfer_syntax: str) -> Response:
    """A multipart/related body of byte strings, streamed as ``parts`` yields them."""
    body, body_type = multipart_bytes(parts, media_type, transfer_syntax)
    return Response(body, mimetype=None, direct_passthrough=True, content_type=body_type)


def _file_response(body: FileBody, content_type: str) -> Response:
    """A body of files sent through ``wsgi.file_wrapper`` (waitress reads the files straight
    into the socket, without copying the body into its output buffer)."""
    environ = request._get_current_object().environ
    response = Response(wrap_file(environ, body), content_type=content_type,
                        direct_passthrough=True)
    response.headers["Content-Length"] = str(len(body))
    return response


def _stream(parts: list[FilePart], media_type: str) -> Response:
    files = MultipartFiles(parts, media_type)
    return _file_response(files.body(), files.content_type)


def _send_single(part: FilePart, media_type: str) -> Response:
    """One file (or a range of it) as the whole body."""
    response = _file_response(FileBody([part]), content_type(media_type, part.transfer_syntax))
    if part.whole:
        response.cache_control.no_cache = True  # as send_file marked a whole file
    return response


def _retrieve(ids: ResourceIds, rules: tuple[accept.Rule, ...]) -> Response:
    headers = request._get_current_object().headers
    negotiated = accept.negotiate(headers.get("Accept"), rules)
    partition, parts = service.retrieve_files(get_db(), get_blobstore(), ids,
                                              negotiated.transfer_syntax, get_decode_limits(),
                                              original=_original_requested(headers))
    partition_found(partition)
    metrics.instances("retrieved", partition.partition_name, len(parts),
                      sum(part.length for part in parts))
    if not negotiated.multipart:
        return _send_single(parts[0], negotiated.media_type)
    return _stream(parts, negotiated.media_type)


@bp.get("/studies/<study>")
@by_partition_name
def retrieve_study(study: str):
    """All instances of a study as multipart/related application/dicom."""
    return _retrieve(_ids(study), accept.STUDY_RULES)


@bp.get("/studies/<study>/series/<series>")
@by_partition_name
def retrieve_series(study: str, series: str):
    """All instances of a series as multipart/related application/dicom."""
    return _retrieve(_ids(study, series), accept.STUDY_RULES)


@bp.get(INSTANCE)
@by_partition_name
def retrieve_instance(study: str, series: str, instance: str):
    """One instance, single part or multipart."""
    return _retrieve(_ids(study, series, instance), accept.INSTANCE_RULES)


def _original_requested(headers: EnvironHeaders) -> bool:
    """Whether the request (its ``headers``) asks for the original version of updated
    instances."""
    # One value: the WSGI environ joins repeated headers (getlist would scan every header).
    value = headers.get(ORIGINAL_VERSION_HEADER)
    return value is not None and value.strip().lower() == "true"


def _metadata(ids: ResourceIds) -> Response:
    result = retrieve_metadata(get_db(), ids, resource_base_url,
                               request.headers.get("If-None-Match"),
                               original=_original_requested(request.headers))
    if result.chunks is not None and result.end is not None:
        # A study or series larger than one batch: chunked, read as it is sent.
        response = Response(streamed_with_db(result.chunks, result.end),
                            content_type=media_types.DICOM_JSON, direct_passthrough=True)
    elif result.body is not None:
        response = Response(result.body, content_type=media_types.DICOM_JSON)
    else:
        response = Response(status=304)
    partition_found(result.partition)
    if response.status_code == 200:
        response.headers["ETag"] = result.etag
    return response


@bp.get("/studies/<study>/metadata")
@by_partition_name
@dicom_json_accept_filter
def retrieve_study_metadata(study: str):
    """DICOM JSON of every instance of a study."""
    return _metadata(_ids(study))


@bp.get("/studies/<study>/series/<series>/metadata")
@by_partition_name
@dicom_json_accept_filter
def retrieve_series_metadata(study: str, series: str):
    """DICOM JSON of every instance of a series."""
    return _metadata(_ids(study, series))


@bp.get(f"{INSTANCE}/metadata")
@by_partition_name
@dicom_json_accept_filter
def retrieve_instance_metadata(study: str, series: str, instance: str):
    """DICOM JSON of one instance (a one-element array)."""
    return _metadata(_ids(study, series, instance))


@bp.get(f"{INSTANCE}/frames/<frames>")
@by_partition_name
def retrieve_frames(study: str, series: str, instance: str, frames: str):
    """Frames (1-based, comma-separated) as application/octet-stream (or image/jp2) parts."""
    ids = _ids(study, series, instance)
    numbers = parse_frames(frames, current_app.config["MAX_FRAMES_PER_REQUEST"])
    negotiated = accept.negotiate(request.headers.get("Accept"), accept.FRAME_RULES)
    if not negotiated.multipart and len(numbers) > 1:
        raise BadRequestError(SINGLE_FRAME_ONLY)
    partition, data, syntax = service.retrieve_frames(get_db(), get_blobstore(), ids, numbers,
                                                      negotiated, get_decode_limits())
    partition_found(partition)
    if not negotiated.multipart:
        with closing(data):
            return Response(next(data),
                            content_type=content_type(negotiated.media_type, syntax))
    return _multipart_bytes(data, negotiated.media_type, syntax)


def _rendered(ids: ResourceIds, frame: int) -> Response:
    media_type = accept.negotiate_rendered(request.headers.get("Accept"))
    quality = parse_quality(request.args.get("quality"))
    partition, image = service.retrieve_rendered(get_db(), get_blobstore(), ids, frame,
                                                 media_type, quality, get_decode_limits())
    partition_found(partition)
    return Response(image, content_type=media_type)


@bp.get(f"{INSTANCE}/rendered")
@by_partition_name
def retrieve_rendered_instance(study: str, series: str, instance: str):
    """The first frame of an instance as image/jpeg or image/png."""
    return _rendered(_ids(study, series, instance), 1)


@bp.get(f"{INSTANCE}/frames/<frame>/rendered")
@by_partition_name
def retrieve_rendered_frame(study: str, series: str, instance: str, frame: str):
    """One frame (1-based) as image/jpeg or image/png."""
    ids = _ids(study, series, instance)
    number = int32("frame", frame)
    if number <= 0:
        raise FrameNotFoundError()
    return _rendered(ids, number)


@bp.get(f"{INSTANCE}/bulkdata/<path:tag_path>")
@by_partition_name
def retrieve_bulkdata(study: str, series: str, instance: str, tag_path: str):
    """The value of a binary attribute named by a metadata BulkDataURI (decisions §5):
    application/octet-stream, single part or (when asked) multipart/related."""
    ids = _ids(study, series, instance)
    negotiated = accept.negotiate(request.headers.get("Accept"), accept.BULKDATA_RULES)
    partition, found, syntax = service.retrieve_bulkdata(get_db(), get_blobstore(), ids,
                                                         tag_path)
    partition_found(partition)
    if isinstance(found, bytes):
        if negotiated.multipart:
            return _multipart_bytes([found], negotiated.media_type, syntax)
        return Response(found, content_type=content_type(negotiated.media_type, syntax))
    if negotiated.multipart:
        return _stream([found], negotiated.media_type)
    return _send_single(found, negotiated.media_type)

"""STOW-RS: ``POST [/vN][/partitions/{p}]/studies[/{study}]`` (PS3.18 §10.5, reference.md §3)."""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Iterable

from flask import Blueprint, Response, current_app, request

from .. import metrics
from ..blobs import SpoolFile
from ..dicomweb import media_types
from ..dicomweb.identifiers import STUDY, validate_uid
from ..dicomweb.json_model import dumps
from ..dicomweb.multipart import iter_parts
from ..errors import (BadRequestError, DataStoreError, EmptyUnsupportedMediaTypeError,
                      PayloadTooLargeError, UnsupportedMediaTypeError)
from ..models import Partition
from ..partitioning import (partition_found, requested_store_partition, resource_base_url,
                            scope, store_partition, stored_by_partition_name)
from ..services import store as store_service
from ..services.store import StoreOutcome
from .edge import api_version, dicom_json_accept_filter, get_blobstore, get_db, no_content

bp = scope(Blueprint("stow", __name__), create=True)

MULTIPLE_VALUES_WARNING = ('299 {host}: "One or more indexed Dicom tag(s) have multiple '
                           'values, only first value is indexed."')
READ_SIZE = 256 * 1024
logger = logging.getLogger(__name__)


def _consumes_dicom(view: Callable[..., Any]) -> Callable[..., Any]:
    """The reference's ``[Consumes("application/dicom", "multipart/related")]`` (reference.md
    §3.1): a Content-Type of another media type is 415 with an empty body, before the Accept
    filter and the path's UID; a missing one, or one of these types with parameters the store
    refuses, gets the store's 415 texts (``_receive_parts``)."""
    @functools.wraps(view)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        content_type = request.headers.get("Content-Type")
        if content_type and media_types.parse_header(content_type)[0] not in (
                media_types.DICOM, media_types.MULTIPART_RELATED):
            raise EmptyUnsupportedMediaTypeError()
        return view(*args, **kwargs)
    return filtered


@bp.post("/studies")
@stored_by_partition_name
@_consumes_dicom
@dicom_json_accept_filter
def store_instances():
    """Store instances of any studies."""
    return _store(None)


@bp.post("/studies/<study>")
@stored_by_partition_name
@_consumes_dicom
@dicom_json_accept_filter
def store_instances_in_study(study: str):
    """Store instances of one study; parts of another study fail with 43264."""
    return _store(validate_uid(study, STUDY))


def _spool_body(max_size: int) -> SpoolFile:
    spool = get_blobstore().spool(store_service.HEAD_SIZE)
    try:
        if not spool.fill(request.stream, max_size, READ_SIZE):
            raise PayloadTooLargeError(max_size)
        spool.finish(keep_open=True)  # the request's only part: one descriptor
    except BaseException:
        spool.discard()
        raise
    return spool


def _receive_parts() -> list[SpoolFile]:
    """Spool every part of the body to disk, checking content types before anything is stored
    (the reference rejects the whole request for one part of the wrong type)."""
    content_type = request.headers.get("Content-Type")
    media, params = media_types.parse_header(content_type)
    max_size = current_app.config["MAX_PART_SIZE"]
    max_parts = current_app.config["MAX_PARTS_PER_REQUEST"]
    if media == media_types.DICOM:
        if params:
            raise UnsupportedMediaTypeError(content_type)
        return [_spool_body(max_size)]
    if media != media_types.MULTIPART_RELATED:
        raise UnsupportedMediaTypeError(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise UnsupportedMediaTypeError(message=(
            f"The content type '{content_type}' is either not multipart or is missing boundary."))
    if "start" in params:
        raise BadRequestError("The start parameter in multipart/related request is not supported.")
    root_type = params.get("type", "").lower()
    spools: list[SpoolFile] = []
    blobs = get_blobstore()
    heads = iter(range(store_service.HEADS_PER_REQUEST))

    def new_spool() -> SpoolFile:
        # Parts are parsed after the whole body is in: only so many keep their head in
        # memory, so a request of thousands of parts holds no more than a few MB.
        return blobs.spool(store_service.HEAD_SIZE if next(heads, None) is not None else 0)

    try:
        for index, part in enumerate(iter_parts(request.stream, boundary, new_spool,
                                                max_size)):
            if index == max_parts:
                part.spool.discard()
                raise PayloadTooLargeError(max_parts, "parts")
            part_type = part.content_type
            part_media, _ = media_types.parse_header(part_type)
            if part_type is None and index == 0 and root_type == media_types.DICOM:
                part_media = media_types.DICOM
            assert part.spool is not None
            spools.append(part.spool)
            if part_media != media_types.DICOM:
                raise UnsupportedMediaTypeError(part_type)
    except BaseException:
        for spool in spools:
            spool.discard()
        raise
    return spools


def _store(study_instance_uid: str | None) -> Response:
    try:
        spools = _receive_parts()
    except OSError as exc:  # the spool directory is full or failing: nothing was stored
        logger.error("Could not spool the request body: %s", exc)
        raise DataStoreError() from exc
    if not spools:
        store_partition()  # a partition being deleted is still the answer
        return no_content()
    partition, by_name = requested_store_partition()
    try:
        result = store_service.store_instances(get_db(), get_blobstore(), partition, spools,
                                               api_version(), study_instance_uid,
                                               partition_by_name=by_name)
    finally:
        for spool in spools:
            spool.discard()
    partition_found(result.partition)  # as stored (the audit line's name)
    _count(result.partition.partition_name, spools, result.outcomes)
    return _response(result.outcomes, result.partition, study_instance_uid)


def _count(partition_name: str, spools: list[SpoolFile], outcomes: list[StoreOutcome]) -> None:
    """Metrics: instances and bytes stored, and failures by reason."""
    stored = [spool.size for spool, outcome in zip(spools, outcomes) if outcome.stored]
    metrics.instances("stored", partition_name, len(stored), sum(stored))
    for outcome in outcomes:
        if not outcome.stored:
            metrics.store_failed(partition_name, outcome.failure_reason or 0)


def _response(outcomes: Iterable[StoreOutcome], partition: Partition,
              study_instance_uid: str | None) -> Response:
    """The reference's response dataset and status (reference.md §3.2, §3.3), as DICOM JSON.

    Built as plain JSON (what pydicom's ``to_json_dict`` gives for the same dataset, elements in
    tag order): a request of thousands of parts must not build thousands of pydicom datasets.
    """
    version = api_version()
    base = resource_base_url(partition.partition_name)
    body: dict[str, Any] = {}
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    warnings = multiple_values = False
    for outcome in outcomes:
        multiple_values = multiple_values or outcome.multiple_values
        item: dict[str, Any] = {}
        if outcome.stored:
            item[_REFERENCED_SOP_CLASS] = _element("UI", outcome.sop_class_uid)
            item[_REFERENCED_SOP_INSTANCE] = _element("UI", outcome.sop_instance_uid)
            item[_RETRIEVE_URL] = _element("UR", (
                f"{base}/studies/{outcome.study_instance_uid}/series/"
                f"{outcome.series_instance_uid}/instances/{outcome.sop_instance_uid}"))
            if outcome.warning_reason is not None:
                item[_WARNING_REASON] = _element("US", outcome.warning_reason)
                warnings = True
            if version >= 2:
                item[_FAILED_ATTRIBUTES] = _error_items(outcome.error_comments)
            referenced.append(item)
        else:
            if outcome.sop_class_uid:
                item[_REFERENCED_SOP_CLASS] = _element("UI", outcome.sop_class_uid)
            if outcome.sop_instance_uid:
                item[_REFERENCED_SOP_INSTANCE] = _element("UI", outcome.sop_instance_uid)
            item[_FAILURE_REASON] = _element("US", outcome.failure_reason)
            if outcome.error_comments:
                item[_FAILED_ATTRIBUTES] = _error_items(outcome.error_comments)
            failed.append(item)
    if study_instance_uid and referenced:
        body[_RETRIEVE_URL] = _element("UR", f"{base}/studies/{study_instance_uid}")
    if failed:
        body[_FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    if referenced:
        body[_REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    if not referenced:
        status = 409
    elif failed or (warnings and version >= 2):
        status = 202
    else:
        status = 200
    response = Response(dumps(body), status=status, mimetype=media_types.DICOM_JSON)
    if multiple_values:
        response.headers["Warning"] = MULTIPLE_VALUES_WARNING.format(host=request.host)
    return response


#: Tags of the response dataset (PS3.18 §10.5.3, Table 10.5.3-1).
_REFERENCED_SOP_CLASS, _REFERENCED_SOP_INSTANCE = "00081150", "00081155"
_RETRIEVE_URL, _WARNING_REASON, _FAILURE_REASON = "00081190", "00081196", "00081197"
_FAILED_SOP_SEQUENCE, _REFERENCED_SOP_SEQUENCE = "00081198", "00081199"
_FAILED_ATTRIBUTES, _ERROR_COMMENT = "00741048", "00000902"


def _element(vr: str, value: Any) -> dict[str, Any]:
    """A DICOM JSON element of one value; an empty one (no value) as pydicom writes it."""
    if value is None or value == "":
        return {"vr": vr}
    return {"vr": vr, "Value": [value]}


def _error_items(comments: list[str]) -> dict[str, Any]:
    """FailedAttributesSequence: one item with an ErrorComment per comment."""
    return {"vr": "SQ", "Value": [{_ERROR_COMMENT: _element("LO", comment)}
                                  for comment in comments]}

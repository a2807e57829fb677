"""Bulk update: ``POST [/v2][/partitions/{p}]/studies/$bulkUpdate`` (reference-2.md §2).

v1 answers 404 with an empty body (the route exists in v2 only); the partition must exist.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..dicomweb import media_types
from ..dicomweb.json_model import dumps
from ..errors import ResourceNotFoundError
from ..partitioning import current_partition, scope
from ..services import bulk_update as service
from .edge import api_version, get_db, json_body, version_base_url

bp = scope(Blueprint("bulk_update", __name__))
#: A request body is at most this large (50 UIDs and 36 attributes need a few kB): 413 above.
MAX_BODY_SIZE = 1024 * 1024


class _NotInVersion(ResourceNotFoundError):
    message = ""


@bp.post("/studies/$bulkUpdate")
def bulk_update_studies() -> Response:
    """Queue an update of patient and study attributes of up to 50 studies: 202 with the
    operation reference; 400 with a dataset listing elements that may not change."""
    if api_version() < 2:
        raise _NotInVersion()
    try:
        operation_id = service.start_bulk_update(get_db(), current_partition(),
                                                 json_body(MAX_BODY_SIZE, content_type_required=False))
    except service.ChangeDatasetInvalidError as exc:
        return Response(dumps(exc.body), status=400, content_type=media_types.DICOM_JSON)
    response = jsonify({"id": operation_id,
                        "href": f"{version_base_url()}/operations/{operation_id}"})
    response.status_code = 202
    return response

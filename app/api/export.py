"""Export: ``POST [/partitions/{p}]/export`` (reference-2.md §3), behind ``DICOM_ENABLE_EXPORT``.

The body is validated first and the switch checked after it (the reference's order: a bad
body is 400 even when export is off, a good one 404); then the destination is checked and the
``export`` operation queued: 202 with its reference.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ..errors import ExportDisabledError
from ..partitioning import current_partition, scope
from ..schemas.operations import OperationReferenceSchema
from ..services import export as service
from ..services.export_destinations import ExportSettings
from .edge import get_db, json_body, version_base_url

bp = scope(Blueprint("export", __name__))

#: Bytes of an export body (10,000 identifiers of three full-length UIDs fit).
MAX_BODY_SIZE = 4 * 1024 * 1024


@bp.post("/export")
def export() -> Response:
    """Export studies, series and instances to a folder or an S3 bucket: 202 with the
    operation reference."""
    config = current_app.config
    request = service.parse_export_request(json_body(MAX_BODY_SIZE),
                                           config["EXPORT_MAX_IDENTIFIERS"])
    if not config["ENABLE_EXPORT"]:
        raise ExportDisabledError()
    operation_id = service.start_export(get_db(), current_partition(), request,
                                        ExportSettings.from_config(config))
    href = f"{version_base_url()}/operations/{operation_id}"
    response = jsonify(OperationReferenceSchema().dump({"id": operation_id, "href": href}))
    response.status_code = 202
    response.headers["Location"] = href
    return response

"""Operations: ``GET /operations/{operationId}`` (global, not per partition; reference.md §9)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..dao.operations import ACTIVE
from ..schemas.operations import OperationSchema
from ..services import operations as service
from .edge import api_version, get_db, version_base_url

bp = Blueprint("operations", __name__)


@bp.get("/operations/<operation_id>")
def get_operation(operation_id: str) -> Response:
    """200 when finished; 202 with ``Location`` (this URL) while not started or running."""
    operation = service.get_operation(get_db(), operation_id)
    base = version_base_url()
    response = jsonify(OperationSchema(base, api_version()).dump(operation))
    if operation.status in ACTIVE:
        response.status_code = 202
        response.headers["Location"] = f"{base}/operations/{operation.operation_id}"
    return response

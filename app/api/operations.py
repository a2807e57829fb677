"""Operations: ``GET /operations/{operationId}`` (global, not partition-prefixed; reference §9)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..dao.operations import ACTIVE
from ..partitioning import api_version, base_prefix
from ..schemas.operations import OperationSchema
from ..services import operations as service
from .edge import get_db

bp = Blueprint("operations", __name__)


@bp.get("/operations/<operation_id>")
def get_operation(operation_id: str) -> Response:
    """200 when finished; 202 with ``Location`` (this URL) while not started or running."""
    operation = service.get_operation(get_db(), operation_id)
    base = request.url_root.rstrip("/") + base_prefix()
    response = jsonify(OperationSchema(base, api_version()).dump(operation))
    if operation.status in ACTIVE:
        response.status_code = 202
        response.headers["Location"] = f"{base}/operations/{operation.operation_id}"
    return response

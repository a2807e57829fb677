"""``GET /health/check`` (unversioned only, as in the reference)."""
from flask import Blueprint, current_app, jsonify

from ..services.health import check_health
from .edge import get_blobstore, get_database

bp = Blueprint("health", __name__)


@bp.get("/health/check")
def health_check():
    """200 Healthy when the database and blob store work, 503 Unhealthy otherwise."""
    body = check_health(get_database(), get_blobstore(),
                        current_app.config["HEALTH_MIN_FREE_BYTES"])
    return jsonify(body), 200 if body["overallStatus"] == "Healthy" else 503

"""``GET /metrics`` (unversioned): Prometheus text format, and the per-request counting.

On by default (``DICOM_METRICS_ENABLED``). With ``DICOM_METRICS_TOKEN`` set, a scrape must send
``Authorization: Bearer <token>``. With security on (``DICOM_SECURITY_ENABLED``) and no metrics
token, the endpoint is not served (404): metrics name partitions, so they are not for everyone.
"""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, current_app, request

from .. import metrics
from ..errors import BlobNotFoundError, DataStoreError, ObjectStoreError
from ..flask_app import RECEIVED
from ..services import operations as operations_service
from .edge import get_database

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """Every metric of every server process, in the Prometheus text format."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response("", status=401, mimetype="text/plain",
                             headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = metrics.render([_operations_collector()])
    return Response(body, content_type=content_type)


def _operations_collector():
    database = get_database()

    def read():
        with database.connection() as conn:
            for row in operations_service.count_operations(conn):
                yield (row.operation_type, row.status), row.count

    return metrics.gauge_collector(
        "dicomweb_operations", "Long-running operations in the database, by type and status.",
        ["type", "status"], read)


def serves_metrics(config) -> bool:
    """Whether ``/metrics`` exists with these settings."""
    if not config["METRICS_ENABLED"]:
        return False
    return bool(config["METRICS_TOKEN"]) or not config.get("SECURITY_ENABLED", False)


def init_app(app: Flask) -> None:
    """Count every request, and serve ``/metrics`` when the settings allow."""
    if not serves_metrics(app.config):
        return
    metrics.setup()
    app.register_blueprint(bp)

    @app.after_request
    def count_request(response: Response) -> Response:
        # Timed from when the app received the request (DicomFlask), so a request a
        # before_request hook rejects is counted too.
        req = request._get_current_object()  # one context lookup for every attribute
        start = req.environ.get(RECEIVED)
        if start is not None:
            rule = req.url_rule
            metrics.request_done(rule.rule if rule is not None else metrics.UNMATCHED_ROUTE,
                                 req.method, response.status_code,
                                 time.perf_counter() - start)
        return response


def count_backend_error(error: BaseException) -> None:
    """Count a request that failed on the database (or its pool) or on the blob store; called
    by the error handler for every error it answers."""
    if isinstance(error, (BlobNotFoundError, ObjectStoreError)):
        metrics.backend_error("blob_store")
    elif isinstance(error, DataStoreError):
        # A body that could not be spooled, or a file that could not be written, is an OSError.
        cause = error.__cause__
        metrics.backend_error("blob_store" if isinstance(cause, OSError) else "database")

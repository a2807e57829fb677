"""The exception hierarchy (``app/errors.py``) mapped to plain-text HTTP responses in one place.

Messages are the reference server's exact texts (reference.md §0.1). A 404 for a URL that no
route matches may be explained by whoever owns those URLs: the partition router registers a
diagnosis (``add_not_found_diagnosis``) that answers for partition names no route can carry.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException, NotFound

from ..errors import INTERNAL_ERROR_MESSAGE, DicomServerError
from .metrics import count_backend_error

logger = logging.getLogger(__name__)

#: Given the app and an unmatched request: the error to answer instead of a plain 404, or None.
NotFoundDiagnosis = Callable[[Flask, Request], Optional[DicomServerError]]
_DIAGNOSES = "dicom_not_found_diagnoses"


def add_not_found_diagnosis(app: Flask, diagnose: NotFoundDiagnosis) -> None:
    """Let ``diagnose`` explain the app's 404s for unmatched URLs (the first answer wins)."""
    app.extensions.setdefault(_DIAGNOSES, []).append(diagnose)


def _diagnose_not_found(app: Flask) -> DicomServerError | None:
    for diagnose in app.extensions.get(_DIAGNOSES, ()):
        error = diagnose(app, request)
        if error is not None:
            return error
    return None


def text_response(status: int, text: str = "", headers: dict[str, str] | None = None) -> Response:
    """Build the plain-text error body the reference returns (no JSON envelope)."""
    response = Response(text, status=status, mimetype="text/plain")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(DicomServerError)
    def handle_dicom_error(error: DicomServerError) -> Response:
        count_backend_error(error)
        if error.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.path, error,
                         exc_info=error.status == 500)
        text = INTERNAL_ERROR_MESSAGE if error.status == 500 else error.text
        return text_response(error.status, text, error.headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        diagnosed = _diagnose_not_found(app) if isinstance(error, NotFound) else None
        if diagnosed is not None:
            return text_response(diagnosed.status, diagnosed.text)
        response = error.get_response()
        response.set_data(b"")
        response.mimetype = "text/plain"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return text_response(500, INTERNAL_ERROR_MESSAGE)

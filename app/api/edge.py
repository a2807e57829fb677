"""The HTTP edge: what views need from Flask's app and request context, in one place: the
request's database connection (and a body that takes it over),
the app's blob store, the API version and its base URL, the
reference's integer-parameter errors, and the 204 response.

Services, the DAO, the database layer and the blob store take what they use as arguments and
never import Flask; views get it here. On the hot paths a context proxy (``g``, ``request``,
``current_app``) is resolved once with ``_get_current_object()``: an attribute read through the
proxy first fails on the proxy itself (an AttributeError, about 2 us each; issue #23). This
module imports no view and no router, so it never closes an import circle.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

from flask import Flask, Response, current_app, g, request

from ..blobs import BlobStore
from ..db import Database, DbConn
from ..dicomweb.decode_limits import DecodeLimits
from ..dicomweb.numbers import INT32_MAX, bounded_integer
from ..dicomweb import media_types
from ..dicomweb.request_json import loads_request_json
from ..errors import (BODY_SYNTAX_INVALID, AcceptFilterError, BadRequestError,
                      EmptyUnsupportedMediaTypeError, PayloadTooLargeError)

#: (URL prefix, blueprint-name prefix, API major version). Unversioned behaves as v2.
BASE_PREFIXES: tuple[tuple[str, str, int], ...] = (
    ("", "", 2),
    ("/v1", "v1_", 1),
    ("/v1.0-prerelease", "v1pre_", 1),
    ("/v2", "v2_", 2),
)
_VERSIONS = {prefix.lstrip("/"): version for prefix, _, version in BASE_PREFIXES if prefix}


def init_app(app: Flask) -> Database:
    """Create the app's database; release the request's connection at teardown."""
    database = Database(app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"],
                        app.config["SQLITE_BUSY_TIMEOUT_MS"], app.config["SQLITE_SYNCHRONOUS"])
    app.extensions["dicom_db"] = database
    app.teardown_appcontext(_close_db)
    app.before_request(_check_request_size)
    app.after_request(_no_content_type_on_204)
    return database


def _check_request_size() -> None:
    """413 with the reference's text for a declared body above DICOM_MAX_REQUEST_SIZE (waitress
    enforces the same limit while receiving, before the app runs: app/server.py)."""
    req = request._get_current_object()
    if not req.environ.get("CONTENT_LENGTH"):
        return  # no declared body (a GET): nothing to parse
    length = req.content_length
    if length and length > current_app.config["MAX_REQUEST_SIZE"]:
        raise PayloadTooLargeError(current_app.config["MAX_REQUEST_SIZE"])


def bounded_body(limit: int) -> bytes:
    """The request body; 413 with the reference's text when it is larger than ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(limit)
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(limit)
    return data


def json_body(limit: int | None = None, content_type_required: bool = True) -> Any:
    """The JSON request body; 415 (empty) unless it is JSON, 400 when it does not parse, 413
    above ``limit`` bytes (when given). Without ``content_type_required`` a request without a
    Content-Type is read as JSON too (ASP.NET's ``[Consumes]`` filter passes it to the body
    binding; bulk update)."""
    content_type = request.headers.get("Content-Type")
    if content_type is not None or content_type_required:
        media, _ = media_types.parse_header(content_type)
        if media != "application/json":
            raise EmptyUnsupportedMediaTypeError()
    data = request.get_data(cache=False) if limit is None else bounded_body(limit)
    try:
        return loads_request_json(data or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequestError(BODY_SYNTAX_INVALID) from None


def no_content(headers: dict[str, str] | None = None) -> Response:
    """204 with no body and no Content-Type."""
    response = Response(status=204, headers=headers)
    del response.headers["Content-Type"]
    return response


def _no_content_type_on_204(response: Response) -> Response:
    """A 204 has no body, so no Content-Type, whichever view or hook answered it."""
    if response.status_code == 204:
        response.headers.pop("Content-Type", None)
    return response


def get_database(app: Flask | None = None) -> Database:
    """The app's database (the current app's by default)."""
    return (app or current_app._get_current_object()).extensions["dicom_db"]


def get_db() -> DbConn:
    """The request's connection, opened on first use and released at teardown."""
    state = g._get_current_object()  # one context lookup instead of three
    conn = state.get("db")
    if conn is None:
        conn = state.db = get_database().connect()
    return conn


def _close_db(exc: BaseException | None = None) -> None:
    conn = g._get_current_object().pop("db", None)
    if conn is not None:
        get_database().release(conn)


def streamed_with_db(chunks: Iterator[bytes], end: Callable[[], None]) -> Iterator[bytes]:
    """A response body that reads the database as it is sent (``chunks``, reading on the
    request's connection; ``end`` finishes that read). Teardown comes before a body is sent,
    so the body takes the connection over: once it is sent, closed unfinished (waitress closes
    it when the client goes away mid-body; Werkzeug for a HEAD request) or dropped, it calls
    ``end``, then releases the connection. Already started, so closing it always does."""
    conn = g._get_current_object().pop("db")
    database = get_database()

    def body() -> Iterator[bytes]:
        try:
            yield b""
            yield from chunks
        finally:
            try:
                end()
            finally:
                database.release(conn)

    started = body()
    next(started)
    return started


def get_blobstore() -> BlobStore:
    """The app's blob store (created by the app factory)."""
    return current_app._get_current_object().extensions["dicom_blobs"]


def get_decode_limits() -> DecodeLimits:
    """The app's decoded-size limit and decode slots (created by the app factory)."""
    return current_app._get_current_object().extensions["dicom_decode_limits"]


def _first_segment() -> str:
    return request.path.split("/", 2)[1] if request.path.count("/") else ""


def api_version() -> int:
    """The major API version of the current request (1 or 2)."""
    return _VERSIONS.get(_first_segment(), 2)


def base_prefix() -> str:
    """The version prefix of the current request: '', '/v1', '/v1.0-prerelease' or '/v2'."""
    first = _first_segment()
    return f"/{first}" if first in _VERSIONS else ""


def version_base_url() -> str:
    """scheme://host[/root][/vN] of the current request (``url_root``: the public base URL when
    one is configured, else the proxy-corrected host and script root): the base of global
    resources (extended query tags, operations); partition-aware resources add their partition
    segment to it."""
    return request.url_root.rstrip("/") + base_prefix()


def dicom_json_accept_filter(view: Callable[..., Any]) -> Callable[..., Any]:
    """The reference's Accept filter for views answering DICOM JSON (STOW, QIDO, metadata;
    reference.md §0.1, §3.1, §4.4, §5.1): an action filter, so it answers before the view
    validates path UIDs or parameters; 406 with an empty body. Put it below the partition
    decorator, whose partition errors still come first."""
    @functools.wraps(view)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        if not media_types.accepts_dicom_json(request.headers.get("Accept")):
            raise AcceptFilterError()
        return view(*args, **kwargs)
    return filtered


def query_integer(name: str, default: int, minimum: int, maximum: int,
                  type_max: int = INT32_MAX) -> int:
    """The integer query parameter ``name`` (matched case-insensitively, as ASP.NET does), or
    ``default``; empty, outside [minimum, maximum] or not an integer of the .NET type whose
    largest value is ``type_max``: the reference's model-binding 400 naming the parameter as
    ``Name``."""
    raw = next((v for k, v in request.args.items() if k.lower() == name.lower()), None)
    if raw is None:
        return default
    return bounded_integer(name[0].upper() + name[1:], raw, minimum, maximum, type_max)

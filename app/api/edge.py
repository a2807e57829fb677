"""The HTTP edge: what views need from Flask's app and request context, in one place.

Services, the DAO, the database layer and the blob store take what they use as arguments and
never import Flask; views get it here.
"""
from __future__ import annotations

from flask import Flask, current_app, g, request

from ..blobs import FileSystemBlobStore
from ..db import Database, DbConn
from ..dicomweb.decode_limits import DecodeLimits
from ..errors import PayloadTooLargeError


def init_app(app: Flask) -> Database:
    """Create the app's database; release the request's connection at teardown."""
    database = Database(app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"],
                        app.config["SQLITE_BUSY_TIMEOUT_MS"])
    app.extensions["dicom_db"] = database
    app.teardown_appcontext(_close_db)
    app.before_request(_check_request_size)
    return database


def _check_request_size() -> None:
    """413 with the reference's text for a declared body above DICOM_MAX_REQUEST_SIZE (waitress
    enforces the same limit while receiving, before the app runs: app/server.py)."""
    limit = current_app.config["MAX_REQUEST_SIZE"]
    if (request.content_length or 0) > limit:
        raise PayloadTooLargeError(limit)


def get_database(app: Flask | None = None) -> Database:
    """The app's database (the current app's by default)."""
    return (app or current_app).extensions["dicom_db"]


def get_db() -> DbConn:
    """The request's connection, opened on first use and released at teardown."""
    if "db" not in g:
        g.db = get_database().connect()
    return g.db


def _close_db(exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        get_database().release(conn)


def get_blobstore() -> FileSystemBlobStore:
    """The app's blob store (created by the app factory)."""
    return current_app.extensions["dicom_blobs"]


def get_decode_limits() -> DecodeLimits:
    """The app's decoded-size limit and decode slots (created by the app factory)."""
    return current_app.extensions["dicom_decode_limits"]

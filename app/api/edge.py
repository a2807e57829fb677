"""The HTTP edge: what views need from Flask's app and request context, in one place.

Services, the DAO, the database layer and the blob store take what they use as arguments and
never import Flask; views get it here.
"""
from __future__ import annotations

from flask import Flask, current_app, g

from ..blobs import FileSystemBlobStore
from ..db import Database, DbConn


def init_app(app: Flask) -> Database:
    """Create the app's database; release the request's connection at teardown."""
    database = Database(app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"],
                        app.config["SQLITE_BUSY_TIMEOUT_MS"])
    app.extensions["dicom_db"] = database
    app.teardown_appcontext(_close_db)
    return database


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

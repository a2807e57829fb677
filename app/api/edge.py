"""The HTTP edge: what views need from Flask's app and request context, in one place.

Services, the DAO, the database layer and the blob store take what they use as arguments and
never import Flask; views get it here.
"""
from __future__ import annotations

from flask import current_app

from ..blobs import FileSystemBlobStore


def get_blobstore() -> FileSystemBlobStore:
    """The app's blob store (created by the app factory)."""
    return current_app.extensions["dicom_blobs"]

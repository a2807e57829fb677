"""Blob stores: where the DICOM files live, content-addressed by SHA-256.

``base.py``: the interface a backend implements; ``spool.py``: the temporary files incoming
bytes are written to; ``filesystem.py``: the file-system backend.
"""
from __future__ import annotations

from .base import CHUNK, BlobStore, iter_file
from .filesystem import IDENTITY_FILE, LAYOUT_FILE, FileSystemBlobStore
from .spool import SpoolFile

__all__ = ["CHUNK", "IDENTITY_FILE", "LAYOUT_FILE", "BlobStore", "FileSystemBlobStore",
           "SpoolFile", "iter_file"]

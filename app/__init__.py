"""DICOMweb server with data partitions.

``create_app`` (``app/factory.py``) builds the Flask app. It is loaded on first use, so importing
a layer below the HTTP edge (``app.services``, ``app.dao``, ``app.db``, ``app.dicomweb``,
``app.blobs``) does not load Flask.
"""
from __future__ import annotations

from typing import Any

__all__ = ["StartupError", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import factory

        return getattr(factory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

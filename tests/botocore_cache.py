"""Test speed only: the app makes a new boto3 session for each S3 blob store (and each export
destination), and every new session's loader reads and decodes botocore's model files again
(endpoints, the S3 service model, its paginators and rules): about 0.1-0.2 s of every app on
the ``s3`` backend. botocore's ``Loader`` caches what it loads for its own life, in
``self._cache``, and hands the same objects to every client of its session; ``install()``
gives every loader with the same search paths one such cache for the whole process, so the
files are read once per test worker. Clients, sessions, credentials and connections stay one
per store as before.

``tests/unit/test_botocore_cache.py`` checks that two sessions share the loaded models and
that a client still works against the real server.
"""
from __future__ import annotations

from typing import Any

from botocore import loaders

_shared: dict[tuple[str, ...], dict[Any, Any]] = {}
_original_init = loaders.Loader.__init__


def _init_with_shared_cache(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self._cache = _shared.setdefault(tuple(self.search_paths), {})


def install() -> bool:
    """Share loaded botocore data between sessions in this process; False if botocore's
    ``Loader`` no longer keeps its cache in ``_cache``."""
    probe = loaders.Loader()
    if not isinstance(getattr(probe, "_cache", None), dict):
        return False
    loaders.Loader.__init__ = _init_with_shared_cache  # type: ignore[method-assign]
    return True

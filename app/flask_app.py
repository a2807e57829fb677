"""The server's Flask class: Flask without two per-request costs this server never needs
(issue #23). Everything else, hooks, signals, routing, error handling, is Flask's own.

- No sessions: the server keeps no client state in cookies (no secret key is ever set), so
  Flask's default interface opened a session only to find no key and make an empty one; here
  every request gets the same empty, read-only session at once (writing to it raises, as
  Flask's null session does).
- ``ensure_sync`` remembers which functions are plain functions: Flask asks
  ``inspect.iscoroutinefunction`` for every hook and view on every request (eight times per
  retrieve). Only plain functions are remembered (a view's, a hook's); anything else is asked
  each time, as before.
- The time the app received the request is in its WSGI environ (``RECEIVED``, from
  ``time.perf_counter``), for the request metrics: no signal receiver and no ``g`` attribute
  per request.
"""
from __future__ import annotations

import time
import types
from typing import Any, Callable

from flask import Flask, Request
from flask.sessions import NullSession, SessionInterface

_NO_SESSION = NullSession()
#: The WSGI environ key of the time the app received the request (``time.perf_counter()``).
RECEIVED = "dicomweb.received"


class NoSessions(SessionInterface):
    """Every request's session is the same empty, read-only one (Flask's NullSession)."""

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return _NO_SESSION

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        """Nothing to save (never called: Flask skips null sessions)."""


class DicomFlask(Flask):
    session_interface = NoSessions()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: dict[Callable[..., Any], bool] = {}

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[RECEIVED] = time.perf_counter()
        return super().wsgi_app(environ, start_response)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func in self._plain:
            return func
        checked = super().ensure_sync(func)
        if checked is func and type(func) is types.FunctionType:
            self._plain[func] = True
        return checked

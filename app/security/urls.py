"""Trusted absolute URLs (no Flask): the WSGI environ the app builds its URLs from.

Absolute URLs (RetrieveURL, BulkDataURI, Location, operation href) come from the request's
host URL. By default that is the ``Host`` header as sent: set ``DICOM_PUBLIC_BASE_URL`` so it
never is, or ``DICOM_TRUSTED_PROXIES`` to honour ``X-Forwarded-*`` from that many proxies
(werkzeug's ProxyFix; none by default).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from werkzeug.middleware.proxy_fix import ProxyFix

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PublicBaseUrl:
    """Every request is seen as addressed to ``base_url`` (scheme, host, port, path prefix);
    the client's ``Host`` and ``X-Forwarded-*`` headers no longer shape any URL."""

    def __init__(self, app: WsgiApp, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc
        self.prefix = parts.path.rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.host
        environ["SCRIPT_NAME"] = self.prefix
        return self.app(environ, start_response)


def wrap(app: WsgiApp, public_base_url: str | None, trusted_proxies: int) -> WsgiApp:
    """The app behind the configured URL trust: ProxyFix runs first (the client address stays
    the forwarded one), then the public base URL overrides scheme, host and prefix."""
    if public_base_url:
        app = PublicBaseUrl(app, public_base_url)
    if trusted_proxies:
        n = trusted_proxies
        app = ProxyFix(app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore
    return app

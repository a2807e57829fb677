"""CORS headers for the configured policy (reference-2.md §5), without Flask.

Preflights are answered before authentication. Unlike the reference, responses expose the
headers browser clients need (``Location``, ``Content-Location``, ``ETag``, ``Warning``,
``erroneous-dicom-attributes``, ``WWW-Authenticate``, ``Retry-After``) and carry ``Cross-Origin-Resource-Policy: cross-origin`` so a
cross-origin-isolated viewer (OHIF) may load rendered images.
"""
from __future__ import annotations

from .settings import CorsSettings

#: Response headers a browser client reads: URLs, versions, warnings, the 401 reason (a
#: viewer renews an expired token) and a 503's back-off.
EXPOSED_HEADERS = ("Location, Content-Location, ETag, Warning, erroneous-dicom-attributes, "
                   "WWW-Authenticate, Retry-After")


def origin_allowed(settings: CorsSettings, origin: str) -> bool:
    return settings.any_origin or origin.rstrip("/").lower() in settings.origins


def _allow_origin(settings: CorsSettings, origin: str) -> dict[str, str]:
    headers = {"Access-Control-Allow-Origin": "*" if settings.any_origin else origin}
    if settings.allow_credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight_headers(settings: CorsSettings, origin: str, method: str,
                      requested_headers: str) -> dict[str, str]:
    """Headers of the 204 answering a preflight; empty when the origin, the method or a
    requested header is not allowed (the browser then refuses the request)."""
    if not origin_allowed(settings, origin):
        return {}
    method = method.strip().upper()
    if "*" not in settings.methods and method not in settings.methods:
        return {}
    wanted = [h.strip() for h in requested_headers.split(",") if h.strip()]
    allowed = {h.lower() for h in settings.headers}
    if "*" not in allowed and any(h.lower() not in allowed for h in wanted):
        return {}
    headers = _allow_origin(settings, origin)
    headers["Access-Control-Allow-Methods"] = method
    if wanted:  # echoed: '*' would not cover Authorization (Fetch standard)
        headers["Access-Control-Allow-Headers"] = ", ".join(wanted)
    if settings.max_age is not None:
        headers["Access-Control-Max-Age"] = str(settings.max_age)
    return headers


def response_headers(settings: CorsSettings, origin: str | None) -> dict[str, str]:
    """Headers added to every response (errors included) for this request's Origin."""
    headers = {"Cross-Origin-Resource-Policy": "cross-origin"}
    if not settings.any_origin:
        headers["Vary"] = "Origin"
    if origin and origin_allowed(settings, origin):
        headers.update(_allow_origin(settings, origin))
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers

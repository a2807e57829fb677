"""Security (issue #16): OIDC bearer tokens, the reference's roles and data actions with
per-partition scopes, CORS, trusted absolute URLs, and the audit log. See docs/security.md.

Modules: ``settings`` (configuration), ``tokens`` (validation with PyJWT), ``actions`` and
``roles`` (the roles file and a caller's grants), ``routes`` (each route's data action),
``cors``, ``urls`` (public base URL, trusted proxies), ``audit``; ``hooks`` is the only one
that uses Flask.
"""
from __future__ import annotations

from flask import Flask

from . import audit, hooks, settings, urls
from .hooks import authorize_global, authorize_partition, may_read, needs_scope
from .settings import SecuritySettingsError

__all__ = ["SecuritySettingsError", "authorize_global", "authorize_partition", "init_app",
           "init_edge", "may_read", "needs_scope"]


def init_edge(app: Flask) -> None:
    """Trusted URLs and CORS: call before any other request hook (a preflight is answered
    before the query-string guard and authentication, with CORS off too)."""
    app.wsgi_app = urls.wrap(app.wsgi_app, settings.public_base_url(app.config),  # type: ignore
                             app.config["TRUSTED_PROXIES"])
    hooks.register_cors(app, settings.cors_settings(app.config))


def init_app(app: Flask) -> None:
    """Authentication and authorization (when enabled) and the audit log."""
    auth = settings.auth_settings(app.config)
    if auth is not None:
        hooks.register_authentication(app, auth)
    audit_enabled = app.config["AUDIT_LOG"]
    if audit_enabled is None:
        audit_enabled = auth is not None
    if audit_enabled:
        audit.configure(app.config["AUDIT_LOG_FILE"])
        hooks.register_audit(app)

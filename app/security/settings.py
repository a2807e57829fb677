"""Security, CORS, URL and audit settings, read from the loaded configuration (no Flask).

Every key is in ``app.config.DEFAULTS`` (environment ``DICOM_<KEY>``) and docs/security.md
"Settings"; lists are comma-separated. Invalid combinations stop startup.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .roles import DEFAULT_ROLES_FILE, Role, RolesFileError, load_roles


class SecuritySettingsError(ValueError):
    """A setting the server cannot run with; startup stops with this message."""


def split_list(value: Any) -> tuple[str, ...]:
    """A comma-separated string (or a list) as a tuple of non-empty, stripped items."""
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return tuple(item.strip() for item in items if str(item).strip())


@dataclass(frozen=True)
class AuthSettings:
    """Bearer-token authentication and role-based authorization."""

    authority: str
    audiences: tuple[str, ...]
    require_https_metadata: bool
    clock_skew_seconds: int
    key_refresh_cooldown_seconds: float
    authorization_enabled: bool
    roles_claim: str
    roles: Mapping[str, Role]


@dataclass(frozen=True)
class CorsSettings:
    """The reference's ``DicomServer:Cors`` policy; ``None`` origins list = CORS off."""

    origins: tuple[str, ...]
    headers: tuple[str, ...]
    methods: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool

    @property
    def any_origin(self) -> bool:
        return "*" in self.origins


def auth_settings(config: Mapping[str, Any]) -> AuthSettings | None:
    """The authentication settings, or None when security is off (the default)."""
    if not config["SECURITY_ENABLED"]:
        return None
    authority = str(config["SECURITY_AUTHORITY"] or "").strip().rstrip("/")
    audiences = split_list(config["SECURITY_AUDIENCE"])
    if not authority:
        raise SecuritySettingsError("Security is enabled but DICOM_SECURITY_AUTHORITY is not set.")
    if not audiences:
        raise SecuritySettingsError("Security is enabled but DICOM_SECURITY_AUDIENCE is not set.")
    require_https = bool(config["SECURITY_REQUIRE_HTTPS_METADATA"])
    scheme = urlsplit(authority).scheme
    if scheme != "https" and (require_https or scheme != "http"):
        raise SecuritySettingsError(
            f"DICOM_SECURITY_AUTHORITY must be an https:// URL (set "
            f"DICOM_SECURITY_REQUIRE_HTTPS_METADATA=false for a local http provider): "
            f"{authority!r}.")
    authorization = bool(config["SECURITY_AUTHORIZATION_ENABLED"])
    roles: Mapping[str, Role] = {}
    if authorization:
        path = Path(config["SECURITY_ROLES_FILE"] or DEFAULT_ROLES_FILE)
        try:
            roles = load_roles(path)
        except RolesFileError as exc:
            raise SecuritySettingsError(f"{path}: {exc}") from None
    return AuthSettings(
        authority=authority, audiences=audiences, require_https_metadata=require_https,
        clock_skew_seconds=int(config["SECURITY_CLOCK_SKEW_SECONDS"]),
        key_refresh_cooldown_seconds=float(config["SECURITY_KEY_REFRESH_COOLDOWN_SECONDS"]),
        authorization_enabled=authorization,
        roles_claim=str(config["SECURITY_ROLES_CLAIM"] or "roles"), roles=roles)


def cors_settings(config: Mapping[str, Any]) -> CorsSettings | None:
    """The CORS policy, or None when no origin is configured (the default)."""
    origins = tuple(o.rstrip("/").lower() for o in split_list(config["CORS_ORIGINS"]))
    if not origins:
        return None
    max_age = config["CORS_MAX_AGE"]
    settings = CorsSettings(
        origins=origins, headers=split_list(config["CORS_HEADERS"]),
        methods=tuple(m.upper() for m in split_list(config["CORS_METHODS"])),
        max_age=None if max_age in (None, "") else int(max_age),
        allow_credentials=bool(config["CORS_ALLOW_CREDENTIALS"]))
    if settings.any_origin and settings.allow_credentials:
        raise SecuritySettingsError("DICOM_CORS_ORIGINS=* cannot be combined with "
                                    "DICOM_CORS_ALLOW_CREDENTIALS=true.")
    return settings


def public_base_url(config: Mapping[str, Any]) -> str | None:
    """DICOM_PUBLIC_BASE_URL without a trailing slash, or None."""
    url = str(config["PUBLIC_BASE_URL"] or "").strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment:
        raise SecuritySettingsError(
            f"DICOM_PUBLIC_BASE_URL must be http(s)://host[:port][/path]: {url!r}.")
    return url

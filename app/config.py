"""Configuration: defaults, then ``DICOM_*`` environment variables, then test overrides.

Every key is listed in docs/operations.md ("Settings") with its environment variable and
default (the security keys in docs/security.md "Settings").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

#: Every setting, with its default. ``None`` means "derived from another setting at load time".
DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "./data",
    "DATABASE_URL": None,  # sqlite:///<DATA_DIR>/dicom.sqlite3
    "BLOB_STORE_PATH": None,  # <DATA_DIR>/blobs (with BLOB_STORE=s3: the local spool folder)
    "BLOB_STORE": "filesystem",  # filesystem or s3 (issue #17)
    "S3_BUCKET": "",
    "S3_ENDPOINT_URL": "",  # for S3-compatible stores other than AWS
    "S3_PREFIX": "",  # every object's key starts with it (e.g. "dicom/")
    "S3_REGION": "",
    # The S3 store's node-local read cache (docs/scale-out.md, "Read cache"; 0 MB: none)
    "S3_CACHE_MAX_MB": 2048,
    "S3_CACHE_PATH": None,  # <BLOB_STORE_PATH>/cache
    "S3_CACHE_MAX_AGE_SECONDS": 86400.0,  # a cached copy is dropped a day after its fill
    "S3_CACHE_CHECK_SECONDS": 300.0,  # drop copies of blobs the index no longer has (0: never)
    "S3_CACHE_FILL_MAX_MB": 64,  # larger blobs are never cached (ranged GETs instead)
    "S3_CACHE_WRITE_THROUGH": True,  # a STOW's file is cached as it is stored
    "ENABLE_DATA_PARTITIONS": False,
    "HOST": "127.0.0.1",
    "PORT": 8080,
    "THREADS": 8,
    "PROCESSES": 1,
    "DB_POOL_SIZE": None,  # THREADS + 4 (PostgreSQL only)
    "SQLITE_BUSY_TIMEOUT_MS": 30000,
    "SQLITE_SYNCHRONOUS": "FULL",  # FULL: a commit survives a power loss; NORMAL: faster
    "FSYNC": True,
    "MAX_PART_SIZE": 2147483648,
    "MAX_REQUEST_SIZE": 4294967296,  # bytes of a request body (larger: 413 before it is read)
    "MAX_PARTS_PER_REQUEST": 10000,  # parts of a STOW request (more: 413)
    "MAX_FRAMES_PER_REQUEST": 1000,  # frame numbers in a frames URL (more: 400)
    "MAX_DECODED_SIZE": 268435456,  # bytes of pixel data one decode may produce (more: 406)
    "DECODE_CONCURRENCY": 2,  # decodes (transcode, render) running at once per process
    "CONNECTION_LIMIT": 1000,  # open connections per process (waitress)
    "CHANNEL_TIMEOUT": 60,  # seconds a connection may stay silent before it is closed
    "HEALTH_MIN_FREE_BYTES": 268435456,  # free bytes below which the blob store is unhealthy
    "REQUEST_BUFFER_SIZE": 33554432,  # bytes of a request body waitress keeps in memory
    "MALLOC_TUNING": True,  # keep freed buffers for reuse (app/server.py tune_malloc)
    "QIDO_DEFAULT_LIMIT": 100,
    "QIDO_MAX_LIMIT": 200,
    "WORKITEM_MAX_BODY_SIZE": 4194304,  # bytes of a UPS-RS request body (larger: 413)
    "MAX_EXTENDED_QUERY_TAGS": 128,
    "REINDEX_BATCH_SIZE": 1000,
    "WORKER_POLL_SECONDS": 2.0,
    "OPERATION_LEASE_SECONDS": 60.0,
    # Export (issue #19; docs/api/export.md): off by default, as in the reference
    "ENABLE_EXPORT": False,
    "EXPORT_ROOT": "",  # folder the filesystem destination writes under ("": no such destination)
    "EXPORT_BATCH_SIZE": 100,  # instances copied between two progress checkpoints
    "EXPORT_MAX_IDENTIFIERS": 10000,  # identifiers one export request may list
    "EXPORT_S3_BUCKETS": "",  # buckets the s3 destination may write ("*": any; "": none)
    "EXPORT_S3_ENDPOINT_URLS": "",  # endpoints a request may name; the first is the default
    "EXPORT_S3_REGION": "",
    "EXPORT_S3_ACCESS_KEY_ID": "",  # with the secret: instead of boto3's standard chain
    "EXPORT_S3_SECRET_ACCESS_KEY": "",
    "ENABLE_BACKGROUND_WORKER": True,
    "SWEEP_BLOBS_AT_STARTUP": False,  # one blob sweep at once at startup (opt-in)
    "SWEEP_INTERVAL_SECONDS": 86400.0,  # the background blob sweep (0: none)
    "SWEEP_MIN_AGE_SECONDS": 3600.0,  # files younger than this are never swept
    "SWEEP_MAX_SHARE": 0.05,  # a sweep finding more files unreferenced stops and reports
    "QUARANTINE_RETENTION_SECONDS": 2592000.0,  # swept files are purged after 30 days
    "ADOPT_STORE_IDENTITY": False,  # a database without a store identity takes the store's
    "LOG_LEVEL": "INFO",
    # Security (issue #16; app/security/settings.py reads these, docs/security.md explains)
    "SECURITY_ENABLED": False,
    "SECURITY_AUTHORITY": "",
    "SECURITY_AUDIENCE": "",  # one or more, comma-separated
    "SECURITY_REQUIRE_HTTPS_METADATA": True,
    "SECURITY_CLOCK_SKEW_SECONDS": 60,
    "SECURITY_KEY_REFRESH_COOLDOWN_SECONDS": 30.0,
    "SECURITY_AUTHORIZATION_ENABLED": False,
    "SECURITY_ROLES_CLAIM": "roles",
    "SECURITY_ROLES_FILE": None,  # app/security/roles.json
    "CORS_ORIGINS": "",
    "CORS_HEADERS": "",
    "CORS_METHODS": "",
    "CORS_MAX_AGE": None,
    "CORS_ALLOW_CREDENTIALS": False,
    "PUBLIC_BASE_URL": "",
    "TRUSTED_PROXIES": 0,
    "AUDIT_LOG": None,  # on when security is on
    "AUDIT_LOG_FILE": "",
    "METRICS_ENABLED": True,
    "METRICS_TOKEN": None,  # bearer token a /metrics scrape must send (needed with security on)
}

#: The reference server's own keys, accepted so deployments carry over (ours win when both
#: are set).
REFERENCE_KEYS = {
    "DicomServer__Features__EnableDataPartitions": "ENABLE_DATA_PARTITIONS",
    "DicomServer__Features__EnableExport": "ENABLE_EXPORT",
    "DicomServer__Security__Enabled": "SECURITY_ENABLED",
    "DicomServer__Security__Authentication__Authority": "SECURITY_AUTHORITY",
    "DicomServer__Security__Authentication__Audience": "SECURITY_AUDIENCE",
    "DicomServer__Security__Authorization__Enabled": "SECURITY_AUTHORIZATION_ENABLED",
    "DicomServer__Security__Authorization__RolesClaim": "SECURITY_ROLES_CLAIM",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting has a value the server cannot run with."""


def parse_bool(value: Any, key: str) -> bool:
    """Read a boolean from a Python value or an environment string."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"Setting {key} must be true or false, not {value!r}.")


def _parse_int(value: Any, key: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting {key} must be an integer, not {value!r}.") from None
    if number < minimum:
        raise ConfigError(f"Setting {key} must be at least {minimum}.")
    return number


def _parse_float(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting {key} must be a number, not {value!r}.") from None
    if number < 0:
        raise ConfigError(f"Setting {key} must not be negative.")
    return number


def resolve(env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Compute the effective settings from the environment and explicit overrides."""
    settings = dict(DEFAULTS)
    for reference_key, key in REFERENCE_KEYS.items():
        if reference_key in env:
            settings[key] = env[reference_key]
    for key in DEFAULTS:
        name = f"DICOM_{key}"
        if name in env:
            settings[key] = env[name]
    if overrides:
        settings.update(overrides)

    for key in ("ENABLE_DATA_PARTITIONS", "FSYNC", "ENABLE_BACKGROUND_WORKER",
                "SWEEP_BLOBS_AT_STARTUP", "SECURITY_ENABLED", "SECURITY_REQUIRE_HTTPS_METADATA",
                "SECURITY_AUTHORIZATION_ENABLED", "CORS_ALLOW_CREDENTIALS", "METRICS_ENABLED",
                "ADOPT_STORE_IDENTITY", "ENABLE_EXPORT", "MALLOC_TUNING",
                "S3_CACHE_WRITE_THROUGH"):
        settings[key] = parse_bool(settings[key], key)
    if settings["AUDIT_LOG"] not in (None, ""):
        settings["AUDIT_LOG"] = parse_bool(settings["AUDIT_LOG"], "AUDIT_LOG")
    else:
        settings["AUDIT_LOG"] = None
    for key, minimum in (("PORT", 0), ("THREADS", 1), ("PROCESSES", 1),
                         ("SQLITE_BUSY_TIMEOUT_MS", 0),
                         ("MAX_PART_SIZE", 1), ("REQUEST_BUFFER_SIZE", 0),
                         ("MAX_REQUEST_SIZE", 1), ("MAX_PARTS_PER_REQUEST", 1),
                         ("MAX_FRAMES_PER_REQUEST", 1), ("MAX_DECODED_SIZE", 1),
                         ("DECODE_CONCURRENCY", 1), ("CONNECTION_LIMIT", 1),
                         ("CHANNEL_TIMEOUT", 1), ("HEALTH_MIN_FREE_BYTES", 0),
                         ("QIDO_DEFAULT_LIMIT", 1), ("QIDO_MAX_LIMIT", 1),
                         ("MAX_EXTENDED_QUERY_TAGS", 1), ("REINDEX_BATCH_SIZE", 1),
                         ("WORKITEM_MAX_BODY_SIZE", 1), ("EXPORT_BATCH_SIZE", 1),
                         ("EXPORT_MAX_IDENTIFIERS", 1),
                         ("SECURITY_CLOCK_SKEW_SECONDS", 0), ("TRUSTED_PROXIES", 0),
                         ("S3_CACHE_MAX_MB", 0), ("S3_CACHE_FILL_MAX_MB", 0)):
        settings[key] = _parse_int(settings[key], key, minimum)
    if bool(settings["EXPORT_S3_ACCESS_KEY_ID"]) != bool(settings["EXPORT_S3_SECRET_ACCESS_KEY"]):
        raise ConfigError("Settings EXPORT_S3_ACCESS_KEY_ID and EXPORT_S3_SECRET_ACCESS_KEY go "
                          "together.")
    settings["SQLITE_SYNCHRONOUS"] = str(settings["SQLITE_SYNCHRONOUS"]).strip().upper()
    if settings["SQLITE_SYNCHRONOUS"] not in ("FULL", "NORMAL"):
        raise ConfigError("Setting SQLITE_SYNCHRONOUS must be FULL or NORMAL.")
    for key in ("SWEEP_INTERVAL_SECONDS", "SWEEP_MIN_AGE_SECONDS", "SWEEP_MAX_SHARE",
                "QUARANTINE_RETENTION_SECONDS", "S3_CACHE_MAX_AGE_SECONDS",
                "S3_CACHE_CHECK_SECONDS"):
        settings[key] = _parse_float(settings[key], key)
    if settings["SWEEP_MAX_SHARE"] > 1:
        raise ConfigError("Setting SWEEP_MAX_SHARE is a share of the files: at most 1.")
    settings["WORKER_POLL_SECONDS"] = float(settings["WORKER_POLL_SECONDS"])
    settings["OPERATION_LEASE_SECONDS"] = float(settings["OPERATION_LEASE_SECONDS"])
    settings["SECURITY_KEY_REFRESH_COOLDOWN_SECONDS"] = float(
        settings["SECURITY_KEY_REFRESH_COOLDOWN_SECONDS"])
    if settings["CORS_MAX_AGE"] not in (None, ""):
        settings["CORS_MAX_AGE"] = _parse_int(settings["CORS_MAX_AGE"], "CORS_MAX_AGE")

    settings["BLOB_STORE"] = str(settings["BLOB_STORE"]).strip().lower()
    if settings["BLOB_STORE"] not in ("filesystem", "s3"):
        raise ConfigError("Setting BLOB_STORE must be filesystem or s3.")
    if settings["BLOB_STORE"] == "s3" and not settings["S3_BUCKET"]:
        raise ConfigError("Setting BLOB_STORE=s3 needs S3_BUCKET.")

    data_dir = Path(settings["DATA_DIR"]).expanduser()
    settings["DATA_DIR"] = str(data_dir)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{(data_dir / 'dicom.sqlite3').resolve()}"
    if not settings["BLOB_STORE_PATH"]:
        settings["BLOB_STORE_PATH"] = str(data_dir / "blobs")
    if not settings["S3_CACHE_PATH"]:
        settings["S3_CACHE_PATH"] = str(Path(settings["BLOB_STORE_PATH"]) / "cache")
    if settings["DB_POOL_SIZE"] in (None, ""):
        settings["DB_POOL_SIZE"] = settings["THREADS"] + 4
    settings["DB_POOL_SIZE"] = _parse_int(settings["DB_POOL_SIZE"], "DB_POOL_SIZE", 1)
    url = str(settings["DATABASE_URL"])
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError("DICOM_DATABASE_URL must start with sqlite:/// or postgresql://")
    return settings


def load(app: Flask, test_config: Mapping[str, Any] | None = None) -> None:
    """Load settings into ``app.config``; fail fast on invalid values."""
    app.config.update(resolve(os.environ, test_config))
    if test_config:
        # Flask's own keys (TESTING, ...) pass through unchanged.
        app.config.update({k: v for k, v in test_config.items() if k not in DEFAULTS})
    # Werkzeug must not cap the body: STOW enforces MAX_PART_SIZE per part while streaming.
    app.config["MAX_CONTENT_LENGTH"] = None
    # No automatic OPTIONS answer (200, Allow, text/html): a plain OPTIONS is a 405 like any
    # other method a route lacks (the reference's routing), unauthenticated; CORS preflights
    # are answered by app/security/hooks.py.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

"""The application factory: configuration, database, blob store, errors, CLI, blueprints."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from . import cli, config, db, partitioning, query_guard, security, worker
from .api import (bulk_update, change_feed, delete, edge, errors, export, extended_query_tags,
                  health, operations, partitions, qido, stow, wado, workitems)
from .api import metrics as metrics_api
from .api import openapi
from .blobs import BlobStore, FileSystemBlobStore
from .blobs.read_cache import ReadCache
from .dicomweb.decode_limits import DecodeLimits
from .errors import DataStoreError, ObjectStoreError
from .flask_app import DicomFlask
from .partitioning import register_api
from .services import blob_cache, blob_sweep, collations, partitions as partition_service
from .services.store_identity import StoreIdentityError, check_store_identity

#: Partition-aware APIs: registered under every base prefix, plain and /partitions/<name>.
PARTITION_AWARE_APIS = (stow.bp, wado.bp, qido.bp, delete.bp, change_feed.bp, workitems.bp,
                        export.bp, bulk_update.bp)
#: Global APIs: registered under every base prefix, plain only.
GLOBAL_APIS = (partitions.bp, qido.all_partitions_bp, extended_query_tags.bp, operations.bp)


class StartupError(RuntimeError):
    """The server must not start (printed, then a non-zero exit)."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app: configuration, database (migrated), blob store, errors, blueprints."""
    app = DicomFlask("app")  # the package's name: the app's name and root path stay "app"
    config.load(app, test_config)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.json.sort_keys = False
    # An empty path segment ('//', or '%2F' once decoded) matches no route (404), as in the
    # reference; merging would redirect to another resource.
    app.url_map.merge_slashes = False
    database = edge.init_app(app)
    app.extensions["dicom_blobs"] = open_blob_store(app.config)
    app.extensions["dicom_decode_limits"] = DecodeLimits(app.config["MAX_DECODED_SIZE"],
                                                         app.config["DECODE_CONCURRENCY"])
    errors.init_app(app)
    partitioning.init_app(app)
    cli.init_app(app)
    try:
        security.init_edge(app)  # trusted URLs; CORS preflights before any other hook
        query_guard.init_app(app)
        security.init_app(app)  # authentication, authorization, audit
    except security.SecuritySettingsError as exc:
        raise StartupError(str(exc)) from exc

    for bp in PARTITION_AWARE_APIS:
        register_api(app, bp, partition_aware=True)
    for bp in GLOBAL_APIS:
        register_api(app, bp, partition_aware=False)
    app.register_blueprint(health.bp)  # unversioned only, as in the reference
    metrics_api.init_app(app)  # GET /metrics, unversioned
    openapi.init_app(app)  # /openapi.json (every prefix), /docs/

    if not app.config.get("SKIP_STARTUP", False):
        startup(app, database)
        start_blob_sweep(app, at_start=app.config["SWEEP_BLOBS_AT_STARTUP"])
        start_cache_check(app)
        worker.init_app(app)  # background operations (re-index), issue #7
    return app


def open_blob_store(settings: Mapping[str, Any]) -> BlobStore:
    """The blob store the settings choose (BLOB_STORE): files under BLOB_STORE_PATH, or a
    bucket (spooled through BLOB_STORE_PATH/.tmp) whose existence and credentials are checked
    now. StartupError says why it cannot be used."""
    try:
        if settings["BLOB_STORE"] != "s3":
            return FileSystemBlobStore(settings["BLOB_STORE_PATH"], settings["FSYNC"])
        from .blobs.s3 import S3BlobStore  # boto3 loads only when S3 is used
        from .blobs.s3_cached import CachedS3BlobStore
        args = (settings["S3_BUCKET"], Path(settings["BLOB_STORE_PATH"]) / ".tmp",
                settings["S3_PREFIX"], settings["S3_ENDPOINT_URL"], settings["S3_REGION"])
        if settings["S3_CACHE_MAX_MB"]:
            cache = ReadCache(settings["S3_CACHE_PATH"], settings["S3_CACHE_MAX_MB"] << 20,
                              settings["S3_CACHE_MAX_AGE_SECONDS"],
                              settings["S3_CACHE_FILL_MAX_MB"] << 20)
            store: S3BlobStore = CachedS3BlobStore(
                *args, cache=cache, write_through=settings["S3_CACHE_WRITE_THROUGH"])
        else:
            store = S3BlobStore(*args)
        store.check_bucket()
        return store
    except (OSError, ValueError) as exc:  # not writable, or a layout this version cannot read
        raise StartupError(f"Cannot use the blob store: {exc}") from exc
    except ObjectStoreError as exc:  # no bucket, refused credentials, unreachable
        raise StartupError(f"Cannot use the S3 bucket {settings['S3_BUCKET']}: {exc.reason}"
                           ) from exc


def start_blob_sweep(app: Flask, at_start: bool) -> None:
    """Start the background blob sweep (every SWEEP_INTERVAL_SECONDS; ``at_start``: also once
    right away)."""
    if app.config["SWEEP_INTERVAL_SECONDS"] <= 0 and not at_start:
        return
    app.extensions["dicom_blob_sweep"] = blob_sweep.PeriodicSweep(
        app.extensions["dicom_db"], app.extensions["dicom_blobs"],
        blob_sweep.SweepSettings.of(app.config),
        app.config["SWEEP_INTERVAL_SECONDS"], at_start).start()


def start_cache_check(app: Flask) -> None:
    """Start the periodic check of the S3 store's read cache (every S3_CACHE_CHECK_SECONDS)."""
    cache = getattr(app.extensions["dicom_blobs"], "cache", None)
    if cache is None or app.config["S3_CACHE_CHECK_SECONDS"] <= 0:
        return
    app.extensions["dicom_cache_check"] = blob_cache.PeriodicCacheCheck(
        app.extensions["dicom_db"], cache, app.config["S3_CACHE_CHECK_SECONDS"]).start()


def startup(app: Flask, database: db.Database) -> None:
    """Migrate the schema; refuse to start when the database and the blob store carry
    different store identities, or when partitions exist but the feature is off. Rows stored
    before migration 0110 get their folded search columns first (services/collations.py)."""
    try:
        database.migrate()
    except DataStoreError as exc:  # refused or unreachable: one line, not a traceback
        cause = " ".join(line.strip() for line in str(exc.__cause__ or exc).splitlines())
        raise StartupError(f"Cannot use the database: {cause.strip()}") from exc
    with database.connection() as conn:
        collations.backfill(conn)
    try:
        check_store_identity(database, app.extensions["dicom_blobs"],
                             app.config["BLOB_STORE_PATH"], app.config["ADOPT_STORE_IDENTITY"])
    except StoreIdentityError as exc:
        raise StartupError(str(exc)) from exc
    if not app.config["ENABLE_DATA_PARTITIONS"]:
        with database.connection() as conn:
            try:
                partition_service.check_feature_can_be_disabled(conn)
            except partition_service.DataPartitionsFeatureCannotBeDisabledError as exc:
                raise StartupError(str(exc)) from exc

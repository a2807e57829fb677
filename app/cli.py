"""Every ``flask --app wsgi ...`` command: ``db upgrade``, ``blobs sweep``,
``blobs restore-quarantine``, ``blobs verify``, ``blobs migrate``, ``import``.

Registered by the app factory; each command runs in the app context (``AppGroup``) and calls
services.
"""
from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path
from typing import IO

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .api.edge import get_blobstore, get_database
from .blobs import FileSystemBlobStore
from .bulk_import.progress import Progress
from .bulk_import.runner import run
from .bulk_import.sources import find_items
from .bulk_import.targets import LocalTarget, RemoteTarget, Target
from .errors import DataStoreError, InvalidPartitionNameError
from .models import DEFAULT_PARTITION_NAME
from .services import collations
from .services.blob_migrate import StoreIdentityConflict, journal_name, migrate_blobs, plan
from .services.blob_sweep import SweepSettings, sweep_blobs
from .services.partitions import validate_partition_name


def init_app(app: Flask) -> None:
    """Register the command groups on the app's CLI."""
    app.cli.add_command(db_group)
    app.cli.add_command(blobs_group)
    app.cli.add_command(import_command)


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Create or migrate the schema (idempotent), and fold the search columns of rows stored
    before migration 0110 if that is still to do."""
    database = get_database()
    applied = database.migrate()
    click.echo(f"Applied migrations: {applied}" if applied else "Schema is up to date.")
    with database.connection() as conn:
        folded = collations.backfill(conn)
    if folded:
        click.echo(f"Folded the search columns of {folded} rows.")


class _StoreGroup(AppGroup):
    """A group whose commands stop with one line, not a traceback, when the blob store or the
    database fails (an object store stopped, refusing the credentials, its bucket gone)."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except DataStoreError as exc:
            raise click.ClickException(str(exc)) from None


@click.group("blobs", cls=_StoreGroup)
def blobs_group() -> None:
    """Blob store maintenance."""


@blobs_group.command("sweep")
@click.option("--min-age", type=float, default=None,
              help="Only touch files older than this many seconds "
                   "(default: DICOM_SWEEP_MIN_AGE_SECONDS).")
@click.option("--dry-run", is_flag=True, help="Only report what a sweep would do.")
@click.option("--force", is_flag=True,
              help="Quarantine even when more than DICOM_SWEEP_MAX_SHARE of the files look "
                   "unreferenced.")
def sweep_command(min_age: float | None, dry_run: bool, force: bool) -> None:
    """Move files no instance references into the quarantine, purge the quarantine's expired
    files, remove stale temporary files; exit with status 1 if the sweep stopped."""
    settings = SweepSettings.of(current_app.config)
    if min_age is not None:
        settings = replace(settings, min_age_seconds=min_age)
    report = sweep_blobs(get_database(), get_blobstore(), settings, dry_run, force)
    click.echo(report.summary())
    if report.stopped:
        raise SystemExit(1)


@blobs_group.command("restore-quarantine")
def restore_quarantine_command() -> None:
    """Move every quarantined file back into the blob store."""
    store = get_blobstore()
    restored = sum(store.restore_quarantined(key) for key, _ in list(store.quarantined()))
    click.echo(f"Restored {restored} files.")


@blobs_group.command("verify")
def verify_command() -> None:
    """Read every file and check that its bytes still hash to its name (SHA-256); list the
    ones that do not and exit with status 1 if there are any."""
    store = get_blobstore()
    checked, damaged = 0, []
    for key in store.keys():
        try:
            actual = store.content_key(key)
        except FileNotFoundError:  # removed since it was listed (a delete, a sweep)
            continue
        checked += 1
        if actual != key:
            damaged.append(key)
            click.echo(f"damaged: {key}")
    click.echo(f"Checked {checked} files, {len(damaged)} damaged.")
    if damaged:
        raise SystemExit(1)


@blobs_group.command("migrate")
@click.option("--source", type=click.Path(exists=True, file_okay=False),
              help="The file-system blob store to copy (default: DICOM_BLOB_STORE_PATH).")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Files copied at once.")
def migrate_command(source: str | None, workers: int) -> None:
    """Copy a file-system blob store into the configured one (DICOM_BLOB_STORE=s3 and the
    DICOM_S3_* settings): every file, each object hashed after the copy, then the store
    identity. Run it again to resume, or to copy what was stored since; exit with status 1
    if any file failed."""
    target = get_blobstore()
    path = Path(source or current_app.config["BLOB_STORE_PATH"]).resolve()
    if isinstance(target, FileSystemBlobStore) and target.root.resolve() == path:
        raise click.UsageError(
            f"The configured blob store is the source ({path}): set DICOM_BLOB_STORE=s3 and "
            f"the DICOM_S3_* settings of the bucket to copy into.")
    store = FileSystemBlobStore(path, fsync=False)
    keys, total = plan(store)
    click.echo(f"Copying {len(keys)} files ({total / 1e6:.1f} MB) from {path} into "
               f"{target!r} with {workers} workers.", err=True)
    progress = Progress(len(keys), total)
    try:
        report = migrate_blobs(store, target, keys, path / journal_name(target), workers,
                               lambda size: progress.advance(1, size, 1))
    except StoreIdentityConflict as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--partition", help="Partition to import into (required with partitions on; "
              "created by its first instance).")
@click.option("--url", help="Import into this DICOMweb server over STOW-RS (base URL, e.g. "
              "http://host:8080/v2) instead of the local store.")
@click.option("--token", envvar="DICOM_IMPORT_TOKEN", help="Bearer token for --url "
              "(or DICOM_IMPORT_TOKEN).")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Batches in flight at once.")
@click.option("--batch-files", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="Files per request (small files are sent together).")
@click.option("--report", type=click.File("w"),
              help="Write every file not stored (failed, not DICOM) as JSON lines.")
@with_appcontext
def import_command(paths: tuple[str, ...], partition: str | None, url: str | None,
                   token: str | None, workers: int, batch_files: int,
                   report: IO[str] | None) -> None:
    """Import DICOM files (folders recursively, any file name, zip archives) into a partition
    of the local store, or with --url into any DICOMweb server. Stop it any time and run it
    again: instances already stored count as already present."""
    target, where = _import_target(partition, url, token)
    # SIGTERM (a service manager, kill) ends the run as Ctrl-C does: the batches in flight
    # finish and the summary says how far it got.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        files = size = 0
        try:
            for item in find_items(paths):  # counted first, for the progress; never a list
                files += 1
                size += item.size
        except KeyboardInterrupt:
            click.echo("Interrupted while counting the files: nothing was imported.", err=True)
            raise SystemExit(130) from None
        click.echo(f"Importing {files} files ({size / 1e6:.1f} MB) into {where} "
                   f"with {workers} workers.", err=True)
        summary = run(find_items(paths), target, workers=workers, report=report,
                      progress=Progress(files, size), batch_files=batch_files)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(summary.text())
    raise SystemExit(summary.exit_status())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _import_target(partition: str | None, url: str | None,
                   token: str | None) -> tuple[Target, str]:
    if url:
        return RemoteTarget(url, token, partition), url
    if current_app.config["ENABLE_DATA_PARTITIONS"]:
        if not partition:
            raise click.UsageError("--partition is required: data partitions are on.")
        try:
            validate_partition_name(partition)
        except InvalidPartitionNameError as exc:
            raise click.UsageError(str(exc)) from None
    elif partition not in (None, DEFAULT_PARTITION_NAME):
        raise click.UsageError("Data partitions are off: leave out --partition.")
    name = partition or DEFAULT_PARTITION_NAME
    return (LocalTarget(get_database(), get_blobstore(), name,
                        current_app.config["MAX_REQUEST_SIZE"]),
            f"partition {name} of the local store")

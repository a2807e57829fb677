"""Every ``flask --app wsgi ...`` command: ``db upgrade``, ``blobs sweep``, ``blobs verify``,
``import``.

Registered by the app factory; each command runs in the app context (``AppGroup``) and calls
services.
"""
from __future__ import annotations

from typing import IO

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .api.edge import get_blobstore, get_database
from .bulk_import.progress import Progress
from .bulk_import.runner import run
from .bulk_import.sources import find_items
from .bulk_import.targets import LocalTarget, RemoteTarget, Target
from .errors import InvalidPartitionNameError
from .models import DEFAULT_PARTITION_NAME
from .services.maintenance import sweep_blobs
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
    """Create or migrate the schema (idempotent)."""
    applied = get_database().migrate()
    click.echo(f"Applied migrations: {applied}" if applied else "Schema is up to date.")


@click.group("blobs", cls=AppGroup)
def blobs_group() -> None:
    """Blob store maintenance."""


@blobs_group.command("sweep")
@click.option("--min-age", default=3600.0, show_default=True,
              help="Only remove files older than this many seconds.")
def sweep_command(min_age: float) -> None:
    """Remove files that no instance references, and stale temporary files."""
    removed = sweep_blobs(get_database(), get_blobstore(), min_age)
    click.echo(f"Removed {removed} files.")


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
    items = find_items(paths)
    size = sum(item.size for item in items)
    click.echo(f"Importing {len(items)} files ({size / 1e6:.1f} MB) into {where} "
               f"with {workers} workers.", err=True)
    summary = run(items, target, workers=workers, report=report,
                  progress=Progress(len(items), size), batch_files=batch_files)
    click.echo(summary.text())
    raise SystemExit(summary.exit_status())


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
    return (LocalTarget(get_database(), get_blobstore(), name),
            f"partition {name} of the local store")

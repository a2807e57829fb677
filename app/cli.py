"""Every ``flask --app wsgi ...`` command: ``db upgrade``, ``blobs sweep``, ``blobs verify``.

Registered by the app factory; each command runs in the app context (``AppGroup``) and calls
services.
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .api.edge import get_blobstore, get_database
from .services.maintenance import sweep_blobs


def init_app(app: Flask) -> None:
    """Register the command groups on the app's CLI."""
    app.cli.add_command(db_group)
    app.cli.add_command(blobs_group)


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

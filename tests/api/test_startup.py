"""Startup: schema creation and the partition feature check (issue #2, reference.md §2.1)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import StartupError
from app.services.partitions import FEATURE_CANNOT_BE_DISABLED
from tests.api.helpers import store
from tests.dicom_factory import make_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_startup_feature_off_with_partitions_refuses(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    with pytest.raises(StartupError) as info:
        make_app(ENABLE_DATA_PARTITIONS=False)
    assert str(info.value) == FEATURE_CANNOT_BE_DISABLED


def test_startup_feature_off_with_only_default_partition_starts(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, "/partitions/Microsoft.Default", make_dataset()).status_code == 200
    assert make_app(ENABLE_DATA_PARTITIONS=False) is not None


def test_startup_is_idempotent(make_app):
    make_app()
    make_app()
    client = make_app().test_client()
    assert client.get("/health/check").status_code == 200


def test_wsgi_refuses_to_start_with_message_and_nonzero_exit(make_app, database_url, tmp_path):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, "/partitions/SiteB", make_dataset()).status_code == 200
    env = {**os.environ, "DICOM_DATABASE_URL": database_url, "DICOM_DATA_DIR": str(tmp_path),
           "DICOM_ENABLE_DATA_PARTITIONS": "false"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert FEATURE_CANNOT_BE_DISABLED in result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_names_a_database_it_cannot_use_in_one_line(backend, database_url, tmp_path):
    """A database that does not exist (PostgreSQL) or a file that cannot be opened (SQLite: a
    folder) stops the server with one line naming the cause, not a traceback."""
    if backend == "sqlite":
        url, cause = f"sqlite:///{tmp_path}", "unable to open database file"
    else:
        url = database_url.rsplit("/", 1)[0] + "/dicom_missing_database"
        cause = 'database "dicom_missing_database" does not exist'
    env = {**os.environ, "DICOM_DATABASE_URL": url, "DICOM_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Cannot use the database: ")
    assert cause in result.stderr


def test_reference_flag_name_enables_partitions(database_url, tmp_path):
    env = {**os.environ, "DICOM_DATABASE_URL": database_url, "DICOM_DATA_DIR": str(tmp_path),
           "DicomServer__Features__EnableDataPartitions": "true"}
    code = ("import wsgi; c = wsgi.app.test_client(); r = c.get('/partitions'); "
            "print(r.status_code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("200"), result.stderr


def test_db_upgrade_command_is_idempotent(make_app):
    app = make_app()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Schema is up to date." in result.output

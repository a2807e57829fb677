"""Blob sweep: unreferenced leftovers go, referenced and young files stay (decisions §3)."""
from __future__ import annotations

import os
import time
import uuid

import psycopg2
import pytest

from app import create_app
from app.services import maintenance
from app.services.maintenance import sweep_blobs
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes

OLD = time.time() - 7200


def _age(path) -> None:
    os.utime(path, (OLD, OLD))


def test_sweep_removes_old_orphans_and_keeps_stored_files(make_app):
    app = make_app()
    client = app.test_client()
    blobs = app.extensions["dicom_blobs"]
    ds = make_dataset()
    assert store(client, "", ds).status_code == 200
    stored = [key for key in blobs.keys()]
    assert len(stored) == 1
    _age(blobs.path(stored[0]))
    old_orphan = blobs.put_bytes(b"left behind by a crashed store")
    _age(blobs.path(old_orphan))
    young_orphan = blobs.put_bytes(b"a store still in flight")
    stale_tmp = blobs.tmp / "spool-stale"
    stale_tmp.write_bytes(b"x")
    _age(stale_tmp)

    removed = sweep_blobs(app.extensions["dicom_db"], blobs, min_age_seconds=3600)

    assert removed == 2
    assert not blobs.exists(old_orphan) and not stale_tmp.exists()
    assert blobs.exists(young_orphan) and blobs.exists(stored[0])
    url = (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200 and response.data == to_bytes(ds)


def test_sweep_command_reports_count(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    orphan = blobs.put_bytes(b"orphan")
    _age(blobs.path(orphan))
    result = app.test_cli_runner().invoke(args=["blobs", "sweep", "--min-age", "60"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 files." in result.output
    assert not blobs.exists(orphan)


def test_verify_command_lists_files_whose_bytes_changed(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    intact, damaged = blobs.put_bytes(b"intact"), blobs.put_bytes(b"will change")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["blobs", "verify"])
    assert result.exit_code == 0, result.output
    assert "Checked 2 files, 0 damaged." in result.output
    blobs.path(damaged).write_bytes(b"changed")
    result = runner.invoke(args=["blobs", "verify"])
    assert result.exit_code == 1
    assert f"damaged: {damaged}" in result.output and intact not in result.output
    assert "Checked 2 files, 1 damaged." in result.output


def test_verify_command_skips_a_file_removed_while_it_runs(make_app, monkeypatch):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    kept, gone = blobs.put_bytes(b"kept"), blobs.put_bytes(b"gone")
    real = blobs.content_key

    def content_key(key):
        if key == gone:
            raise FileNotFoundError(key)
        return real(key)

    monkeypatch.setattr(blobs, "content_key", content_key)
    result = app.test_cli_runner().invoke(args=["blobs", "verify"])
    assert result.exit_code == 0, result.output
    assert "Checked 1 files, 0 damaged." in result.output and kept


def test_first_stores_give_a_new_postgresql_database_statistics(pg_test_url, tmp_path,
                                                                 monkeypatch):
    """A new database gets its first statistics from the store path, not a minute later
    from autovacuum (until then the planner may scan a whole partition per duplicate check)."""
    if pg_test_url is None:
        pytest.skip("PostgreSQL is not reachable")
    base_url, _, _ = pg_test_url.rpartition("/")
    name = f"dicom_analyze_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(f"{base_url}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = f"{base_url}/{name}"
    monkeypatch.setattr(maintenance, "FIRST_ANALYZE_AFTER", 3)
    monkeypatch.setattr(maintenance, "_stored", {"count": 0, "checked": False})
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"),
                      "DATABASE_URL": url, "FSYNC": False, "ENABLE_BACKGROUND_WORKER": False,
                      "SWEEP_BLOBS_AT_STARTUP": False, "LOG_LEVEL": "WARNING"})
    try:
        client = app.test_client()

        def analyzed() -> bool:
            """Column statistics exist (what the planner needs; not only reltuples)."""
            with psycopg2.connect(url) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stats WHERE tablename IN"
                            " ('instances', 'change_feed') AND attname = 'sop_instance_uid'")
                return cur.fetchone()[0] == 2

        for _ in range(2):
            assert store(client, "", make_dataset()).status_code == 200
        assert not analyzed()
        assert store(client, "", make_dataset()).status_code == 200
        assert analyzed()
    finally:
        app.extensions["dicom_db"].close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

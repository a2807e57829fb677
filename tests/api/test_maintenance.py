"""Blob sweep: unreferenced leftovers go to the quarantine, referenced and young files stay; a
sweep that would move too much stops (decisions §3, issue #15)."""
from __future__ import annotations

import os
import threading
import time
import uuid

import psycopg2
import pytest

from app import create_app
from app.services import maintenance
from app.services.blob_sweep import SweepSettings, sweep_blobs
from tests.api.helpers import store
from tests.blob_support import backdate, corrupt
from tests.dicom_factory import make_dataset, to_bytes
from tests.s3_server import with_s3

def _age(blobs, key: str, quarantined: bool = False) -> None:
    backdate(blobs, key, 7200, quarantined)


def _sweep(app, **settings):
    return sweep_blobs(app.extensions["dicom_db"], app.extensions["dicom_blobs"],
                       SweepSettings(**settings))


@with_s3
def test_sweep_quarantines_old_orphans_and_keeps_stored_files(make_app):
    app = make_app()
    client = app.test_client()
    blobs = app.extensions["dicom_blobs"]
    ds = make_dataset()
    assert store(client, "", ds).status_code == 200
    stored = [key for key in blobs.keys()]
    assert len(stored) == 1
    _age(blobs, stored[0])
    old_orphan = blobs.put_bytes(b"left behind by a crashed store")
    _age(blobs, old_orphan)
    young_orphan = blobs.put_bytes(b"a store still in flight")
    stale_tmp = blobs.tmp / "spool-stale"
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (time.time() - 7200,) * 2)

    report = _sweep(app)

    assert (report.files, report.quarantined, report.temporary) == (3, 1, 1)
    assert not blobs.exists(old_orphan) and not stale_tmp.exists()
    assert [key for key, _ in blobs.quarantined()] == [old_orphan]  # moved, not deleted
    assert blobs.exists(young_orphan) and blobs.exists(stored[0])
    url = (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200 and response.data == to_bytes(ds)


@with_s3
def test_the_quarantine_is_purged_only_after_its_retention(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    orphan = blobs.put_bytes(b"orphan")
    _age(blobs, orphan)
    assert _sweep(app).quarantined == 1
    assert _sweep(app, quarantine_retention_seconds=3600).purged == 0
    assert [key for key, _ in blobs.quarantined()] == [orphan]
    _age(blobs, orphan, quarantined=True)
    assert _sweep(app, quarantine_retention_seconds=3600).purged == 1
    assert list(blobs.quarantined()) == [] and not blobs.exists(orphan)


@with_s3
def test_a_sweep_finding_too_many_unreferenced_files_stops(make_app):
    """The database looks like another archive's, or a restored backup: more than
    SWEEP_MAX_SHARE of the files have no row. Nothing moves; --force moves them."""
    app = make_app()
    client = app.test_client()
    blobs = app.extensions["dicom_blobs"]
    assert store(client, "", *[make_dataset(pixels=False) for _ in range(4)]).status_code == 200
    orphans = [blobs.put_bytes(f"orphan {n}".encode()) for n in range(12)]
    for key in blobs.keys():
        _age(blobs, key)

    report = _sweep(app, max_share=0.5)

    assert report.stopped and report.unreferenced == 12 and report.quarantined == 0
    assert "12 of 16 files" in report.stopped
    assert all(blobs.exists(key) for key in orphans)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["blobs", "sweep"])
    assert result.exit_code == 1 and "Stopped: 12 of 16 files" in result.output
    assert all(blobs.exists(key) for key in orphans)
    result = runner.invoke(args=["blobs", "sweep", "--force"])
    assert result.exit_code == 0, result.output
    assert "12 of 12 unreferenced files quarantined" in result.output
    assert len(list(blobs.keys())) == 4


@with_s3
def test_sweep_command_dry_run_moves_nothing(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    orphan = blobs.put_bytes(b"orphan")
    _age(blobs, orphan)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["blobs", "sweep", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 unreferenced and old enough would be quarantined" in result.output
    assert blobs.exists(orphan)
    result = runner.invoke(args=["blobs", "sweep", "--min-age", "60"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 unreferenced files quarantined" in result.output
    assert not blobs.exists(orphan)
    result = runner.invoke(args=["blobs", "restore-quarantine"])
    assert "Restored 1 files." in result.output and blobs.exists(orphan)


@with_s3
def test_storing_the_bytes_of_an_old_orphan_refreshes_it(make_app):
    """A store that reuses an old unreferenced file makes it young again, so a sweep that
    found it unreferenced just before the store committed leaves it (issue #15, item 3)."""
    app = make_app()
    client = app.test_client()
    blobs = app.extensions["dicom_blobs"]
    ds = make_dataset()
    orphan = blobs.put_bytes(to_bytes(ds))  # a crashed store of the same instance
    _age(blobs, orphan)
    assert store(client, "", ds).status_code == 200
    assert blobs.age(orphan) < 60
    assert _sweep(app).quarantined == 0 and blobs.exists(orphan)


@with_s3
def test_a_sweep_waits_for_a_store_committing_the_same_file(make_app):
    """A store of an old orphan's bytes is between its file check and its commit: the sweep
    found the file unreferenced and old, but takes the file's row lock before it moves it,
    so it sees the store's row and leaves the file (issue #15, item 3)."""
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    orphan = blobs.put_bytes(b"the bytes a store is committing")
    _age(blobs, orphan)
    database = app.extensions["dicom_db"]
    committing = database.connect()  # the store's transaction, holding its new row
    found = {}
    sweep = threading.Thread(target=lambda: found.update(report=_sweep(app)))
    try:
        with committing.transaction(write=True):
            committing.execute("INSERT INTO blobs (blob_key, size, ref_count, created_date) "
                               "VALUES (?, 31, 1, '2024-01-01T00:00:00+00:00')", (orphan,))
            sweep.start()
            time.sleep(1.0)  # the sweep found the file unreferenced and waits for the lock
    finally:
        database.release(committing)
    sweep.join(30)
    assert found["report"].unreferenced == 1 and found["report"].quarantined == 0
    assert blobs.exists(orphan)


@with_s3
def test_verify_command_lists_files_whose_bytes_changed(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    intact, damaged = blobs.put_bytes(b"intact"), blobs.put_bytes(b"will change")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["blobs", "verify"])
    assert result.exit_code == 0, result.output
    assert "Checked 2 files, 0 damaged." in result.output
    corrupt(blobs, damaged, b"changed")
    result = runner.invoke(args=["blobs", "verify"])
    assert result.exit_code == 1
    assert f"damaged: {damaged}" in result.output and intact not in result.output
    assert "Checked 2 files, 1 damaged." in result.output


@with_s3
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


def test_the_periodic_sweep_runs_once_per_interval_whichever_node_comes_first(make_app):
    """Two servers on one database (two apps here): the first whose timer fires claims the
    interval's sweep, the other skips it; once the interval is over the next claim wins."""
    from app.services.blob_sweep import claim_periodic_sweep

    first, second = make_app(), make_app()
    assert claim_periodic_sweep(first.extensions["dicom_db"], 3600) is True
    assert claim_periodic_sweep(second.extensions["dicom_db"], 3600) is False
    assert claim_periodic_sweep(first.extensions["dicom_db"], 3600) is False
    time.sleep(0.05)
    assert claim_periodic_sweep(second.extensions["dicom_db"], 0.01) is True  # interval over
    assert claim_periodic_sweep(first.extensions["dicom_db"], 3600) is False

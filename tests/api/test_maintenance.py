"""Blob sweep: unreferenced leftovers go, referenced and young files stay (decisions §3)."""
from __future__ import annotations

import os
import time

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

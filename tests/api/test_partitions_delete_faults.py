"""A partition deletion survives a kill -9 of its server (issue #20): the real server as a
separate process (tests/api/test_faults.py's Server), its worker running the deletePartition
operation; after a restart another run takes the operation over once its lease expired and
finishes it. A partition sharing files with the deleted one keeps every byte."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from app.blobs import FileSystemBlobStore
from app.db import Database
from app.services.blob_sweep import sweep_blobs
from tests.api.helpers import http_request
from tests.api.test_faults import Server
from tests.dicom_factory import make_dataset, multipart, to_bytes

STUDIES = 300
ENV = {"DICOM_ENABLE_DATA_PARTITIONS": "true", "DICOM_ENABLE_BACKGROUND_WORKER": "true",
       "DICOM_WORKER_POLL_SECONDS": "0.1", "DICOM_OPERATION_LEASE_SECONDS": "2",
       "DICOM_FSYNC": "false"}


def _store(port: int, name: str, datasets) -> None:
    body, content_type = multipart([to_bytes(ds) for ds in datasets])
    status, data = http_request(port, "POST", f"/partitions/{name}/studies", body,
                                {"Content-Type": content_type,
                                 "Accept": "application/dicom+json"})
    assert status == 200, data[:300]


def _operation(port: int, path: str) -> dict:
    status, data = http_request(port, "GET", path)
    assert status in (200, 202), data
    return json.loads(data)


def _blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file() and len(p.name) == 64]


def test_delete_survives_a_kill_and_keeps_the_other_partitions_bytes(tmp_path, database_url):
    server = Server(tmp_path / "data", database_url, ENV).start()
    try:
        shared = make_dataset()
        _store(server.port, "SiteB", [shared])
        datasets = [shared] + [make_dataset() for _ in range(STUDIES - 1)]
        for first in range(0, STUDIES, 50):
            _store(server.port, "SiteA", datasets[first:first + 50])
        assert len(_blob_files(server.data_dir)) == STUDIES
        status, data = http_request(server.port, "DELETE", "/partitions/SiteA")
        assert status == 202, data
        path = "/" + json.loads(data)["href"].split("://", 1)[1].split("/", 1)[1]
        deadline = time.time() + 60
        while True:  # kill it midway
            operation = _operation(server.port, path)
            assert operation["status"] != "succeeded", "finished before the kill"
            if operation["status"] == "running" and operation["percentComplete"] > 0:
                break
            assert time.time() < deadline
            time.sleep(0.02)
        server.kill()
        left = len(_blob_files(server.data_dir))
        assert 1 < left < STUDIES
        server.start()
        deadline = time.time() + 120
        while _operation(server.port, path)["status"] != "succeeded":
            assert time.time() < deadline, _operation(server.port, path)
            time.sleep(0.2)
        assert http_request(server.port, "GET", "/partitions/SiteA")[0] == 400
        # A study deleted just before the kill may have left its released file (its row says
        # released): the blob sweep finishes it, as after any crash during a DELETE.
        database = Database(database_url)
        try:
            sweep_blobs(database, FileSystemBlobStore(server.data_dir / "blobs"))
        finally:
            database.close()
        assert [p.name for p in _blob_files(server.data_dir)] == [
            hashlib.sha256(to_bytes(shared)).hexdigest()]
        url = (f"/partitions/SiteB/studies/{shared.StudyInstanceUID}/series/"
               f"{shared.SeriesInstanceUID}/instances/{shared.SOPInstanceUID}")
        status, data = http_request(server.port, "GET", url, headers={
            "Accept": "application/dicom; transfer-syntax=*"})
        assert (status, data) == (200, to_bytes(shared))
        # Every instance of SiteA has exactly one Delete entry (none twice after the resume).
        entries = []
        while True:
            status, data = http_request(server.port, "GET", "/changefeed?includeMetadata=false"
                                        f"&limit=200&offset={len(entries)}")
            page = json.loads(data)
            entries += page
            if len(page) < 200:
                break
        deletes = [e["sopInstanceUid"] for e in entries if e["action"] == "Delete"]
        assert sorted(deletes) == sorted(ds.SOPInstanceUID for ds in datasets)
        assert {e["partitionName"] for e in entries if e["action"] == "Delete"} == {"SiteA"}
    finally:
        server.stop()

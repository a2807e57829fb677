"""Bulk update crash safety (issue #19), with the real server as a separate process: kill -9
while it runs an update operation, then a restart. Each study is either entirely as stored or
entirely updated, never mixed; after the lease expires the operation resumes and finishes;
every instance keeps its original file byte for byte, and no file is half-written or left
over."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.api.helpers import http_request
from tests.api.test_faults import ANY_SYNTAX, Server
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

STUDIES, PER_STUDY = 16, 25
LEASE_SECONDS = 4
WORKER = {"DICOM_ENABLE_BACKGROUND_WORKER": "true", "DICOM_WORKER_POLL_SECONDS": "0.1",
          "DICOM_OPERATION_LEASE_SECONDS": str(LEASE_SECONDS)}


@pytest.fixture
def server(tmp_path: Path, database_url: str):
    started = Server(tmp_path / "data", database_url, WORKER)
    yield started
    started.stop()


def _operation(port: int, operation_id: str) -> dict:
    status, body = http_request(port, "GET", f"/v2/operations/{operation_id}")
    assert status in (200, 202), body
    return json.loads(body)


def _names(port: int, study: str) -> set[str]:
    status, body = http_request(port, "GET", f"/v2/studies/{study}/metadata",
                                headers={"Accept": "application/dicom+json"})
    assert status == 200, body
    return {item["00100010"]["Value"][0]["Alphabetic"] for item in json.loads(body)}


def _file(port: int, ds, original: bool) -> bytes:
    headers = dict(ANY_SYNTAX, **({"msdicom-request-original": "true"} if original else {}))
    status, body = http_request(
        port, "GET", f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}", headers=headers)
    assert status == 200, (ds.SOPInstanceUID, status)
    return body


def test_kill_9_during_an_update_leaves_no_study_half_updated(server, tmp_path):
    studies = [[make_dataset(study, rows=16, columns=16) for _ in range(PER_STUDY)]
               for study in (uid() for _ in range(STUDIES))]
    server.start()
    for datasets in studies:
        body, content_type = multipart([to_bytes(ds) for ds in datasets])
        assert http_request(server.port, "POST", "/v2/studies", body,
                            {"Content-Type": content_type})[0] == 200
    uids = [datasets[0].StudyInstanceUID for datasets in studies]
    change = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Updated^Jane"}]}}
    status, body = http_request(server.port, "POST", "/v2/studies/$bulkUpdate",
                                json.dumps({"studyInstanceUids": uids,
                                            "changeDataset": change}).encode(),
                                {"Content-Type": "application/json"})
    assert status == 202, body
    operation_id = json.loads(body)["id"]

    deadline = time.time() + 60
    while _operation(server.port, operation_id)["percentComplete"] == 0:
        assert time.time() < deadline, "the update did not start"
        time.sleep(0.01)
    server.kill()

    server.start()  # the dead worker's lease has not expired yet: nothing runs at first
    seen = [_names(server.port, study) for study in uids]
    assert all(names in ({"Doe^John"}, {"Updated^Jane"}) for names in seen), seen
    assert {"Doe^John"} in seen, "the kill landed after the last study"
    assert _operation(server.port, operation_id)["status"] == "running"

    deadline = time.time() + 120
    while (operation := _operation(server.port, operation_id))["status"] == "running":
        assert time.time() < deadline, "the update did not resume"
        time.sleep(0.2)
    assert operation["status"] == "succeeded", operation
    assert operation["results"] == {"studyProcessed": STUDIES, "studyUpdated": STUDIES,
                                    "studyFailed": 0, "instanceUpdated": STUDIES * PER_STUDY}
    for study in uids:
        assert _names(server.port, study) == {"Updated^Jane"}
    for datasets in studies:
        for ds in datasets:
            assert _file(server.port, ds, original=True) == to_bytes(ds)
            assert b"Updated^Jane" in _file(server.port, ds, original=False)
    # Each instance has its original file and one updated file; the interrupted study's files
    # were rewritten to the same bytes, so nothing is left over.
    files = [p for p in (tmp_path / "data" / "blobs").glob("??/*") if len(p.name) == 64]
    assert len(files) == 2 * STUDIES * PER_STUDY

"""Export with the real server as a separate process (issue #19): kill -9 in the middle of an
export, restart, and the operation finishes after its lease with every file whole and each
instance counted once."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.api.helpers import http_request
from tests.api.test_faults import Server
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

INSTANCES = 120
LEASE_SECONDS = 3


@pytest.fixture
def export_server(tmp_path: Path, database_url: str):
    root = tmp_path / "exports"
    root.mkdir()
    started = Server(tmp_path / "data", database_url, {
        "DICOM_ENABLE_BACKGROUND_WORKER": "true", "DICOM_WORKER_POLL_SECONDS": "0.1",
        "DICOM_OPERATION_LEASE_SECONDS": str(LEASE_SECONDS), "DICOM_ENABLE_EXPORT": "true",
        "DICOM_EXPORT_ROOT": str(root), "DICOM_EXPORT_BATCH_SIZE": "1"})
    yield started, root
    started.stop()


def _operation(port: int, operation_id: str) -> dict:
    status, body = http_request(port, "GET", f"/v2/operations/{operation_id}")
    assert status in (200, 202), body
    return json.loads(body)


def _wait(port: int, operation_id: str, done, seconds: float) -> dict:
    deadline = time.time() + seconds
    while True:
        operation = _operation(port, operation_id)
        if done(operation) or time.time() > deadline:
            return operation
        time.sleep(0.02)


def test_kill_9_during_an_export_resumes_without_duplicates_or_partial_files(export_server):
    server, root = export_server
    study, series = uid(), [uid() for _ in range(4)]
    datasets = [make_dataset(study, series[n % 4], rows=64, columns=64 + n % 5)
                for n in range(INSTANCES)]
    server.start()
    for first in range(0, INSTANCES, 40):
        body, content_type = multipart([to_bytes(ds) for ds in datasets[first:first + 40]])
        status, _ = http_request(server.port, "POST", "/v2/studies", body,
                                 {"Content-Type": content_type})
        assert status == 200
    missing = uid()
    request = {"source": {"type": "identifiers", "settings": {"values": [study, missing]}},
               "destination": {"type": "filesystem", "settings": {"path": "crash"}}}
    status, body = http_request(server.port, "POST", "/v2/export", json.dumps(request).encode(),
                                {"Content-Type": "application/json"})
    assert status == 202, body
    operation_id = json.loads(body)["id"]

    running = _wait(server.port, operation_id, lambda op: op.get("percentComplete", 0) >= 10,
                    30)
    server.kill()
    assert running["status"] == "running" and 10 <= running["percentComplete"] < 100, running

    server.start()  # a new worker takes the operation over once the lease has expired
    done = _wait(server.port, operation_id, lambda op: op["status"] != "running"
                 and op["status"] != "notStarted", 60 + LEASE_SECONDS)
    assert done["status"] == "succeeded", done
    assert (done["results"]["exported"], done["results"]["skipped"]) == (INSTANCES, 1)

    folder = root / "crash" / operation_id
    written = {path.relative_to(folder / "results").as_posix(): path.read_bytes()
               for path in (folder / "results").rglob("*") if path.is_file()}
    assert written == {f"{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm": to_bytes(ds)
                       for ds in datasets}  # whole files only: no partial or temporary ones
    lines = (folder / "errors.log").read_text().splitlines()
    assert {json.loads(line)["identifier"] for line in lines} == {missing}  # may repeat

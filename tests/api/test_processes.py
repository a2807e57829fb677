"""``python wsgi.py`` with DICOM_PROCESSES > 1: forked servers on one socket (issue #3)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.config import ConfigError, resolve
from tests.api.helpers import http_request as _request
from tests.dicom_factory import make_dataset, to_bytes

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_config_processes_below_one_fails():
    assert resolve({})["PROCESSES"] == 1
    assert resolve({"DICOM_PROCESSES": "3"})["PROCESSES"] == 3
    with pytest.raises(ConfigError):
        resolve({"DICOM_PROCESSES": "0"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wsgi_two_processes_store_and_stop_on_sigterm(tmp_path):
    port = _free_port()
    env = {**os.environ, "DICOM_DATA_DIR": str(tmp_path), "DICOM_PORT": str(port),
           "DICOM_PROCESSES": "2", "DICOM_THREADS": "2", "DICOM_LOG_LEVEL": "WARNING",
           "DICOM_DATABASE_URL": f"sqlite:///{tmp_path / 'dicom.sqlite3'}"}
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                if _request(port, "GET", "/health/check")[0] == 200:
                    break
            except OSError:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.1)
        children = _children(process.pid)
        assert len(children) == 2
        study = "1.2.826.0.1.3680043.8.498.77"
        for n in range(4):  # separate connections: any process may serve each
            ds = make_dataset(study_uid=study, sop_uid=f"{study}.1.{n}")
            status, _ = _request(port, "POST", "/v2/studies", to_bytes(ds),
                                 {"Content-Type": "application/dicom"})
            assert status == 200
        status, body = _request(port, "GET", f"/v2/studies/{study}/instances",
                                headers={"Accept": "application/dicom+json"})
        assert status == 200 and len(json.loads(body)) == 4
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        for child in children:
            assert not Path(f"/proc/{child}").exists() or \
                Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

"""``python wsgi.py`` with DICOM_PROCESSES > 1: forked servers on one socket (issue #3)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
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


def _start(tmp_path: Path, extra_env: dict[str, str] | None = None
           ) -> tuple[subprocess.Popen, int]:
    """``python wsgi.py`` with two processes on SQLite, answering; (process, port)."""
    port = _free_port()
    env = {**os.environ, "DICOM_DATA_DIR": str(tmp_path), "DICOM_PORT": str(port),
           "DICOM_PROCESSES": "2", "DICOM_THREADS": "2", "DICOM_LOG_LEVEL": "WARNING",
           "DICOM_DATABASE_URL": f"sqlite:///{tmp_path / 'dicom.sqlite3'}", **(extra_env or {})}
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(process.stderr.read().decode())
        try:
            if _request(port, "GET", "/health/check")[0] == 200:
                return process, port
        except OSError:
            if time.time() > deadline:
                process.kill()
                pytest.fail("server did not start")
            time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and both its processes (SIGTERM; SIGKILL to all if that hangs)."""
    children = _children(process.pid) if process.poll() is None else []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in [process.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()


def _established(pid: int, port: int, remote: bool = False) -> int:
    """Connections to local ``port`` (``remote``: to a server on ``port``) that process
    ``pid`` holds open (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local_port = int(fields[2 if remote else 1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wsgi_two_processes_share_keep_alive_connections_evenly(tmp_path):
    """Eight keep-alive connections opened one after another: four per process (the kernel
    alone hands each to whichever process wakes first)."""
    process, port = _start(tmp_path)
    connections = []
    try:
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/health/check")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            connections.append(conn)
        held = sorted(_established(child, port) for child in _children(process.pid))
        assert held == [4, 4]
    finally:
        for conn in connections:
            conn.close()
        _stop(process)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("blob_store", ["filesystem", "s3"])
def test_wsgi_two_processes_storing_at_once_keep_every_file_exact(tmp_path, blob_store, request):
    """Four clients store distinct instances at once through both processes (fsync on, the
    default: spooled through O_DIRECT buffers; or into S3, where the forked processes must not
    share the parent's connections); every instance reads back byte for byte."""
    extra_env = {}
    if blob_store == "s3":
        server = request.getfixturevalue("s3_server")
        settings = server.settings(server.shared_bucket, request.getfixturevalue("s3_prefix"))
        extra_env = {**server.environment(), **{f"DICOM_{k}": v for k, v in settings.items()}}
    process, port = _start(tmp_path, extra_env)
    if blob_store == "s3":  # the parent's startup connections were closed before the fork
        assert _established(process.pid, int(server.endpoint_url.rsplit(":", 1)[1]),
                            remote=True) == 0
    study = "1.2.826.0.1.3680043.8.498.78"
    sent: dict[str, bytes] = {}
    errors: list[str] = []

    def client(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for n in range(20):
                uid = f"{study}.{worker}.{n}"
                data = to_bytes(make_dataset(study_uid=study, sop_uid=uid, rows=384,
                                             columns=256 + worker))
                sent[uid] = data
                conn.request("POST", "/v2/studies", body=data,
                             headers={"Content-Type": "application/dicom"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{uid}: {response.status}")
        finally:
            conn.close()

    try:
        threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        status, body = _request(port, "GET", f"/v2/studies/{study}/instances",
                                headers={"Accept": "application/dicom+json"})
        assert status == 200
        for item in json.loads(body):
            uid = item["00080018"]["Value"][0]
            series = item["0020000E"]["Value"][0]
            status, data = _request(
                port, "GET", f"/v2/studies/{study}/series/{series}/instances/{uid}",
                headers={"Accept": "application/dicom; transfer-syntax=*"})
            assert status == 200 and data == sent.pop(uid), uid
        assert sent == {}
    finally:
        _stop(process)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wsgi_processes_stop_when_their_parent_is_killed(tmp_path):
    process, port = _start(tmp_path)
    children = _children(process.pid)
    assert len(children) == 2
    process.kill()  # SIGKILL: the parent cannot pass anything on
    process.wait()
    deadline = time.time() + 30
    alive = children
    while alive and time.time() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
                 and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"]
    for pid in alive:  # do not leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert alive == []
    with pytest.raises(OSError):
        _request(port, "GET", "/health/check")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wsgi_two_processes_store_and_stop_on_sigterm(tmp_path):
    process, port = _start(tmp_path)
    try:
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
            _stop(process)

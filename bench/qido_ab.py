"""QIDO before/after on one machine state: a checkout of the previous code and this one serve
the same PostgreSQL database (two servers); each request goes to both, alternating, one at a
time, so load from other jobs hits both alike. Every pair of bodies must be byte-identical.

    git archive <rev> | tar -x -C /tmp/before
    flock /tmp/bench.lock .venv/bin/python -m bench.qido_ab --before /tmp/before

Cases: the large pages of bench.qido's data (100,000 instances, partition Site1), and the
extended-query-tag search of bench.reindex's data (100,000 instances, InstitutionName
re-indexed by this code's server, 100 matches per value).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from app.db import Database

from . import reindex
from .common import create_pg_database, drop_pg_database, free_port, machine_description
from .seed import seed

AFTER = str(Path(__file__).resolve().parent.parent)
ACCEPT = {"Accept": "application/dicom+json"}


def _start(code: str, url: str, partitions: bool,
           worker: bool = False) -> tuple[subprocess.Popen, http.client.HTTPConnection]:
    """``python wsgi.py`` of a checkout on a free port, once it answers."""
    port = free_port()
    env = {**os.environ, "DICOM_DATA_DIR": tempfile.mkdtemp(prefix="qido-ab-"),
           "DICOM_DATABASE_URL": url, "DICOM_PORT": str(port), "DICOM_HOST": "127.0.0.1",
           "DICOM_ENABLE_DATA_PARTITIONS": str(partitions).lower(), "DICOM_LOG_LEVEL": "WARNING",
           "DICOM_ENABLE_BACKGROUND_WORKER": str(worker).lower(),
           "DICOM_WORKER_POLL_SECONDS": "0.2"}
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=code, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/health/check")
            if probe.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    return process, http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def _get(conn: http.client.HTTPConnection, path: str, method: str = "GET",
         body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or ACCEPT)
    response = conn.getresponse()
    return response.status, response.read()


def _compare(name: str, before: http.client.HTTPConnection, after: http.client.HTTPConnection,
             path_for: Callable[[int], str], count: int) -> None:
    times: dict[str, list[float]] = {"before": [], "after": []}
    for i in range(10):  # warm-up
        _get(before, path_for(i))
        _get(after, path_for(i))
    for i in range(count):
        bodies = []
        for label, conn in (("before", before), ("after", after)):
            start = time.perf_counter()
            status, body = _get(conn, path_for(i))
            times[label].append((time.perf_counter() - start) * 1000)
            assert status == 200, (label, status, body[:200])
            bodies.append(body)
        assert bodies[0] == bodies[1], f"{path_for(i)}: bodies differ"
    for label, values in times.items():
        values.sort()
        print(f"| {name} | {label} | {count} | {values[len(values) // 2]:.1f} |"
              f" {values[int(len(values) * 0.95)]:.1f} | {len(bodies[0]):,} |", flush=True)


def _stop(servers: list[tuple[subprocess.Popen, http.client.HTTPConnection]]) -> None:
    for process, _ in servers:
        process.terminate()
        process.wait(timeout=15)


def run(before: str, count: int) -> None:
    print(machine_description())
    print("\n| case | code | requests | p50 ms | p95 ms | bytes |\n|---|---|---|---|---|---|")
    url, servers = create_pg_database(), []
    try:
        seed(url, 100_000)
        servers = [_start(before, url, True), _start(AFTER, url, True)]
        old, new = servers[0][1], servers[1][1]
        p = "/partitions/Site1"
        for name, query in (("studies", "limit=100"), ("instances", "limit=100"),
                            ("series", "limit=100"), ("studies", "limit=100&includefield=all")):
            _compare(f"/{name}?{query}", old, new, lambda i: f"{p}/{name}?{query}", count)
    finally:
        _stop(servers)
        drop_pg_database(url)
    url, servers = create_pg_database(), []
    try:
        Database(url).migrate()
        reindex.seed(url, 100_000)
        servers = [_start(AFTER, url, False, worker=True)]
        new = servers[0][1]
        status, body = _get(new, "/extendedquerytags", "POST", json.dumps([reindex.TAG]).encode(),
                            {"Content-Type": "application/json"})
        assert status == 202, body
        operation = json.loads(body)["id"]
        while _get(new, f"/operations/{operation}")[0] != 200:
            time.sleep(0.3)
        servers.append(_start(before, url, False))
        _compare("/instances?InstitutionName=X (100 matches)", servers[1][1], new,
                 lambda i: f"/instances?InstitutionName=Hospital-{i % reindex.DISTINCT_VALUES}",
                 count)
    finally:
        _stop(servers)
        drop_pg_database(url)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="QIDO before/after on one machine state")
    parser.add_argument("--before", required=True, help="a checkout of the previous code")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    run(args.before, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

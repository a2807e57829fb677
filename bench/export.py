"""Export benchmark (issue #19): export a study of N stored instances into a folder.

Starts the real server (background worker on, export on, fsync on as by default), stores N
0.5 MB CT instances in one study (10 series) with STOW, then resets the server's peak RSS and
times ``POST /v2/export`` of the study until the operation has succeeded. Reports instances/s,
MB/s and the server's RSS growth during the export (peak minus the RSS before it); checks that
every file arrived and that a sample reads back byte for byte.

    flock /work/.bench.lock .venv/bin/python -m bench.export [--instances 1000] [--sqlite]
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PostConnection, machine_description, running_server
from bench.stow import PARTS_PER_REQUEST, Instances, multipart_chunks

SERIES = 10
BOUNDARY = "ExportBenchBoundary"


def _store(server, instances: Instances, count: int) -> None:
    conn = PostConnection(server.host, server.port)
    content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    try:
        for first in range(0, count, PARTS_PER_REQUEST):
            parts = [instances.parts(n % SERIES)
                     for n in range(first, min(count, first + PARTS_PER_REQUEST))]
            status, text = conn.post("/v2/studies", {"Content-Type": content_type},
                                     list(multipart_chunks(parts, BOUNDARY)))
            if status != 200:
                raise RuntimeError(f"STOW answered {status}: {text[:300]!r}")
    finally:
        conn.close()


def _call(server, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _reset_peak_rss(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux: clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")


def run(backend: str, count: int, batch: int) -> str:
    instances = Instances()
    root = Path(tempfile.mkdtemp(prefix="dicom-bench-exports-"))
    env = {"DICOM_ENABLE_EXPORT": "true", "DICOM_EXPORT_ROOT": str(root),
           "DICOM_WORKER_POLL_SECONDS": "0.05", "DICOM_EXPORT_BATCH_SIZE": str(batch)}
    try:
        with running_server(backend, extra_env=env) as server:
            _store(server, instances, count)
            instances.verify(server)
            study = instances.uid(1, 0).decode()
            before_kb = server.rss_kb()
            _reset_peak_rss(server.process.pid)
            start = time.perf_counter()
            status, reference = _call(server, "POST", "/v2/export", {
                "source": {"type": "identifiers", "settings": {"values": [study]}},
                "destination": {"type": "filesystem", "settings": {"path": "bench"}}})
            if status != 202:
                raise RuntimeError(f"export answered {status}: {reference}")
            while True:
                _, operation = _call(server, "GET", f"/v2/operations/{reference['id']}")
                if operation["status"] not in ("notStarted", "running"):
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - start
            peak_kb = server.peak_rss_kb()
            if operation["status"] != "succeeded" or operation["results"]["exported"] != count:
                raise RuntimeError(f"export did not finish: {operation}")
            folder = root / "bench" / reference["id"] / "results" / study
            files = sorted(folder.rglob("*.dcm"))
            if len(files) != count:
                raise RuntimeError(f"{len(files)} files exported, not {count}")
            for n, series in random.sample(instances.made, 20):
                path = (folder / instances.uid(2, series).decode()
                        / f"{instances.uid(3, n).decode()}.dcm")
                if path.read_bytes() != b"".join(instances.make(n, series)):
                    raise RuntimeError(f"{path} differs from the stored instance")
            nbytes = sum(path.stat().st_size for path in files)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return (f"| {backend}, {count} x {nbytes / count / 1e6:.2f} MB, batch {batch} | "
            f"{seconds:.1f} | {count / seconds:,.1f} | {nbytes / seconds / 1e6:,.1f} | "
            f"{before_kb / 1024:.0f} | {(peak_kb - before_kb) / 1024:.1f} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="DICOM_EXPORT_BATCH_SIZE")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    options = parser.parse_args(argv)
    backend = "sqlite" if options.sqlite else "postgresql"
    print(f"Machine: {machine_description()}\n")
    print("| case | seconds | instances/s | MB/s | RSS before, MiB | RSS growth, MiB |")
    print("|---|---|---|---|---|---|")
    print(run(backend, options.instances, options.batch), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

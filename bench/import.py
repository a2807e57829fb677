"""Bulk import benchmark: ``flask --app wsgi import`` of 2,000 CT instances (0.5 MB each),
into the local store and over HTTP (STOW-RS to a running server), on PostgreSQL and SQLite,
fsync on. Each case imports a fresh folder into a fresh database; the rate is the command's
own summary (instances / wall time, progress and file reading included).

Usage: ``python -m bench.import [--instances 2000] [--backends postgresql,sqlite]
[--workers 4] [--processes 2]``
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (ROOT, create_pg_database, drop_pg_database, machine_description,
                          running_server)
from bench.stow import Instances

SUMMARY = re.compile(r"Stored (\d+), already present (\d+), not DICOM (\d+), failed (\d+) "
                     r"in ([\d.]+) s \(([\d.]+) inst/s\)")


def write_folder(folder: Path, count: int) -> int:
    """``count`` unique CT instances as files in series folders; total bytes."""
    instances = Instances()
    size = 0
    for n in range(count):
        series = folder / f"series{n // 100:03d}"
        series.mkdir(parents=True, exist_ok=True)
        data = instances.next(n // 100)
        (series / f"IM{n:05d}").write_bytes(data)
        size += len(data)
    return size


def run_import(folder: Path, data_dir: Path, database_url: str, *args: str) -> tuple[str, float]:
    """Run the import command; (summary line, inst/s)."""
    env = {**os.environ, "DICOM_DATA_DIR": str(data_dir), "DICOM_DATABASE_URL": database_url,
           "DICOM_LOG_LEVEL": "WARNING", "DICOM_ENABLE_BACKGROUND_WORKER": "false",
           "DICOM_SWEEP_BLOBS_AT_STARTUP": "false"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "import",
                           str(folder), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=3600)
    found = SUMMARY.search(done.stdout)
    if not found or int(found.group(4)) or done.returncode:
        raise RuntimeError(f"import failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return found.group(0), float(found.group(6))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2, help="server processes (HTTP)")
    options = parser.parse_args(argv)
    print(machine_description())
    rows = []
    for backend in options.backends.split(","):
        for mode in ("local", "http"):
            work = Path(tempfile.mkdtemp(prefix="dicom-bench-import-"))
            try:
                size = write_folder(work / "in", options.instances)
                workers = ("--workers", str(options.workers))
                started = time.monotonic()
                if mode == "local":
                    url = (create_pg_database() if backend == "postgresql"
                           else f"sqlite:///{work / 'dicom.sqlite3'}")
                    try:
                        line, rate = run_import(work / "in", work / "data", url, *workers)
                    finally:
                        if backend == "postgresql":
                            drop_pg_database(url)
                else:
                    with running_server(backend, extra_env={
                            "DICOM_PROCESSES": str(options.processes)}) as server:
                        line, rate = run_import(work / "in", work / "client",
                                                f"sqlite:///{work / 'client.sqlite3'}",
                                                "--url", server.base + "/v2", *workers)
                elapsed = time.monotonic() - started
                rows.append(f"| {backend} | {mode} | {options.instances} | {size / 1e6:,.0f} | "
                            f"{rate:,.1f} | {elapsed:,.1f} |")
                print(line, flush=True)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print("\n| Database | Mode | Instances | MB | inst/s | Command wall time (s) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])

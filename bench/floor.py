"""Our server against the stack's floor (issue #23): a minimal Flask app on the same waitress
settings (app/server.py ``waitress_settings``) that does only the HTTP and file work, driven by
the same client in the same run, interleaved with our server, reporting our/floor ratios.

The floor answers each case with what ours answers, without a database, DICOM or checks:
- WADO instance: reads the same 0.5 MB file from disk, returns it as one multipart part;
- WADO series: the 40 files of the series read from disk, as 40 multipart parts;
- metadata, QIDO: the bytes our server answered (captured once), from memory;
- STOW single: writes the 0.5 MB body to a new file with fsync, answers a small JSON.

Each round runs every case on the floor and on ours (the order alternates), so both see the
same load on a shared machine; the tables give the median over the rounds. Our server also
reports its CPU and its minor page faults per request (buffers handed back to the OS by malloc
and faulted in again on the next request show there).

    python -m bench.floor [--backend postgresql|sqlite] [--rounds 5] [--scale 1.0]
                          [--partitions on|off] [--env NAME=VALUE ...]
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from pydicom import dcmread
from pydicom.uid import generate_uid

from .common import (ROOT, PostConnection, Result, Server, create_pg_database, drive,
                     drop_pg_database, free_port, machine_description, running_server)
from .stow import Instances
from .wado import getter, instance, stow

MULTIPART_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
BOUNDARY = "floorboundary0123456789abcdef"
STOW_ANSWER = json.dumps({"00081199": {"vr": "SQ", "Value": [{"00081150": {
    "vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]}, "00081155": {
    "vr": "UI", "Value": ["1.2.999.3.123456780000000000001"]}, "00081190": {
    "vr": "UR", "Value": ["http://127.0.0.1/studies/1/series/2/instances/3" + "x" * 60]}}]},
    "00081190": {"vr": "UR", "Value": ["http://127.0.0.1/studies/1" + "x" * 60]}}).encode()


# --- the floor app (runs in its own process: python -m bench.floor --serve SPEC) -------------

def floor_app(spec: dict[str, Any]):
    """The minimal Flask app: GET /case/<name> answers the case's pieces; POST /stow writes."""
    from flask import Flask, Response, request

    app = Flask("floor")
    cases = spec["cases"]
    data_dir = Path(spec["data_dir"])
    head = (f"--{BOUNDARY}\r\nContent-Type: application/dicom; transfer-syntax="
            f"{EXPLICIT_VR_LE}\r\n\r\n").encode()
    multipart = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'

    @app.get("/case/<name>")
    def case(name: str) -> Response:
        spec_case = cases[name]
        if "files" in spec_case:
            files = spec_case["files"]
            heads = [(b"\r\n" if index else b"") + head for index in range(len(files))]
            tail = f"\r\n--{BOUNDARY}--\r\n".encode()
            body: list[bytes] = []
            for part_head, path in zip(heads, files):
                with open(path, "rb") as f:
                    body += [part_head, f.read()]
            body.append(tail)
            return Response(body, content_type=multipart,
                            headers={"Content-Length": str(sum(map(len, body)))})
        return Response(bytes.fromhex(spec_case["body"]), content_type=spec_case["type"])

    @app.post("/stow")
    def store() -> Response:
        body = request.get_data()
        path = data_dir / uuid.uuid4().hex
        with open(path, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        return Response(STOW_ANSWER, content_type="application/dicom+json")

    return app


def serve_floor(spec_path: str) -> None:
    from waitress import serve

    from app.config import DEFAULTS
    from app.server import waitress_settings

    spec = json.loads(Path(spec_path).read_text())
    serve(floor_app(spec), host="127.0.0.1", port=spec["port"], **waitress_settings(DEFAULTS))


# --- the benchmark -----------------------------------------------------------------------------

def start_floor(spec: dict[str, Any]) -> Server:
    port = free_port()
    spec = {**spec, "port": port}
    spec_path = Path(spec["data_dir"]) / "spec.json"
    spec_path.write_text(json.dumps(spec))
    process = subprocess.Popen([sys.executable, "-m", "bench.floor", "--serve", str(spec_path)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"floor exited: {process.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/stow", body=b"x")
            conn.getresponse().read()
            conn.close()
            break
        except OSError:
            time.sleep(0.2)
    return Server("127.0.0.1", port, process, Path(spec["data_dir"]), "")


def _fetch(server: Server, path: str, accept: str | None) -> tuple[str, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("GET", path, headers={"Accept": accept} if accept else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return response.getheader("Content-Type"), body


def _process_stat(pid: int) -> tuple[int, int]:
    """(CPU ticks: user + system, minor page faults) of a process and its children so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[7])


_TICK = os.sysconf("SC_CLK_TCK")


def measured(server: Server, run: Callable[[], Result]) -> tuple[Result, float, float]:
    """The case's result, the server's CPU ms and minor page faults per request."""
    cpu0, faults0 = _process_stat(server.process.pid)
    result = run()
    cpu1, faults1 = _process_stat(server.process.pid)
    return (result, (cpu1 - cpu0) * 1000 / _TICK / result.requests,
            (faults1 - faults0) / result.requests)


def stow_request(instances: Instances | None, path: str):
    def request(conn: PostConnection, index: int) -> tuple[int, int]:
        chunks = instances.parts(series=index // 100) if instances else FLOOR_BODY
        status, text = conn.post(path, {"Content-Type": "application/dicom",
                                        "Accept": "application/dicom+json"}, chunks)
        if status != 200:
            raise RuntimeError(f"STOW answered {status}: {text[:300]!r}")
        return 1, sum(len(chunk) for chunk in chunks)

    return request


FLOOR_BODY: list[bytes] = []


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(backend: str, rounds: int, scale: float, partitions: bool,
        extra_env: dict[str, str], only: str = "") -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dicom-floor-"))
    instances = Instances()
    FLOOR_BODY[:] = [b"".join(instances.make(0, 10**9))]
    prefix = "/partitions/Microsoft.Default" if partitions else ""
    env = {"DICOM_PROCESSES": "1", **extra_env}
    database_url = create_pg_database() if backend == "postgresql" else None
    blobs = data_dir / "ours"
    blobs.mkdir()
    if database_url is None:
        database_url = f"sqlite:///{blobs / 'index.sqlite3'}"
    env["DICOM_DATA_DIR"] = str(blobs)
    study, series = generate_uid(), generate_uid()
    series_files = [instance(study, series, 512, 512, number=i) for i in range(40)]
    meta_study, meta_series = generate_uid(), generate_uid()
    meta_files = [instance(meta_study, meta_series, 16, 16, number=i) for i in range(100)]
    with running_server(backend, partitions=partitions, extra_env=env,
                        database_url=database_url) as seeding:
        for files in (series_files, meta_files):
            stow(seeding, files, prefix)
    try:
        # A fresh server (nothing stored through it yet) serves the retrieves.
        with running_server(backend, partitions=partitions, extra_env=env,
                            database_url=database_url) as ours:
            _measure(ours, data_dir, instances, prefix, rounds, scale, study, series, meta_study,
                     series_files, only)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if backend == "postgresql":
            drop_pg_database(database_url)


def _measure(ours: Server, data_dir: Path, instances: Instances, prefix: str, rounds: int,
             scale: float, study: str, series: str, meta_study: str,
             series_files: list[bytes], only: str) -> None:
    paths = []
    for index, data in enumerate(series_files):
        path = data_dir / f"series-{index}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    sop = dcmread(io.BytesIO(series_files[0]), stop_before_pixels=True).SOPInstanceUID
    one = f"{prefix}/studies/{study}/series/{series}/instances/{sop}"
    get_cases = [  # name, our path, Accept, requests, the floor's answer
        ("WADO instance", one, MULTIPART_DICOM, 600, {"files": paths[:1]}),
        ("WADO series (40 x 0.5 MB)", f"{prefix}/studies/{study}/series/{series}",
         MULTIPART_DICOM, 30, {"files": paths}),
        ("study metadata (100)", f"{prefix}/studies/{meta_study}/metadata", None, 300, None),
        ("QIDO study's instances (100)", f"{prefix}/studies/{meta_study}/instances",
         None, 300, None),
    ]
    spec_cases = {}
    for index, (name, path, accept, _, answer) in enumerate(get_cases):
        if answer is None:
            content_type, body = _fetch(ours, path, accept)
            answer = {"body": body.hex(), "type": content_type}
        spec_cases[str(index)] = answer
    floor = start_floor({"data_dir": str(data_dir), "cases": spec_cases})
    try:
        fresh = measured(ours, lambda: drive(ours, "fresh", 1, 200,
                                             getter(one, MULTIPART_DICOM)))
        print(f"Our fresh server, only retrieves so far: WADO instance c=1 "
              f"{fresh[0].requests / fresh[0].seconds:,.0f} req/s, {fresh[1]:.2f} ms CPU and "
              f"{fresh[2]:.0f} minor page faults per request\n", flush=True)
        table = _interleave(ours, floor, get_cases, instances, prefix, rounds, scale, only)
    finally:
        floor.process.terminate()
        floor.process.wait(timeout=15)
    print(table, flush=True)


def _interleave(ours: Server, floor: Server, get_cases: list, instances: Instances,
                prefix: str, rounds: int, scale: float, only: str = "") -> str:
    """Run every case ``rounds`` times on both servers, alternating which goes first."""
    def n(count: int) -> int:
        return max(4, int(count * scale))

    cases: list[tuple[str, int, Callable[[Server], Result]]] = []
    for index, (name, path, accept, count, _) in enumerate(get_cases):
        for concurrency in ((1, 4) if name == "WADO instance" else (1,)):
            def go(server: Server, path=path, accept=accept, count=count, index=index,
                   name=name, concurrency=concurrency) -> Result:
                target = path if server is ours else f"/case/{index}"
                items = 40 if "series" in name else 1
                return drive(server, name, concurrency, n(count * concurrency // 2 + count // 2),
                             getter(target, accept, items))
            cases.append((name, concurrency, go))
    for concurrency in (1, 4):
        def go_stow(server: Server, concurrency=concurrency) -> Result:
            request = (stow_request(instances, f"{prefix}/studies") if server is ours
                       else stow_request(None, "/stow"))
            return drive(server, "STOW single", concurrency, n(60 + 60 * concurrency), request,
                         connect=PostConnection)
        cases.append(("STOW single", concurrency, go_stow))

    cases = [case for case in cases if only in case[0]]
    samples: dict[tuple[str, int], list[tuple[float, float, float, float, float]]] = {}
    for name, concurrency, go in cases:  # warm-up
        for server in (floor, ours):
            go(server)
    loads = [load_average()]
    for number in range(rounds):
        for name, concurrency, go in cases:
            order = (floor, ours) if number % 2 == 0 else (ours, floor)
            results = {}
            for server in order:
                results[server is ours] = measured(server, lambda: go(server))
            (ours_result, ours_cpu, ours_faults), (floor_result, floor_cpu, _) = (
                results[True], results[False])
            samples.setdefault((name, concurrency), []).append((
                ours_result.requests / ours_result.seconds,
                floor_result.requests / floor_result.seconds, ours_cpu, floor_cpu, ours_faults))
        loads.append(load_average())
    lines = ["| case | ours req/s | floor req/s | ours/floor | ratio min-max | ours CPU ms/req "
             "| floor CPU ms/req | ours minor faults/req |", "|---|---|---|---|---|---|---|---|"]
    for (name, concurrency), values in samples.items():
        ratios = [o / f for o, f, *_ in values]
        med = [statistics.median(column) for column in zip(*values)]
        lines.append(f"| {name}, c={concurrency} | {med[0]:,.0f} | {med[1]:,.0f} | "
                     f"**{statistics.median(ratios):.2f}** | {min(ratios):.2f}-{max(ratios):.2f} "
                     f"| {med[2]:.2f} | {med[3]:.2f} | {med[4]:.0f} |")
    lines.append(f"\n{rounds} rounds, medians; load average (1, 5, 15 min) at the start and after "
                 f"each round: {'; '.join(loads)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.floor")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    parser.add_argument("--partitions", choices=["on", "off"], default="on")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for our server (e.g. DICOM_MALLOC_TUNING=false)")
    args = parser.parse_args(argv)
    if args.serve:
        serve_floor(args.serve)
        return 0
    print(machine_description())
    print(f"{args.backend}, partitions {args.partitions}, our server: 1 process x 8 threads, "
          f"fsync on; {' '.join(args.env)}\n", flush=True)
    run(args.backend, args.rounds, args.scale, args.partitions == "on",
        dict(item.split("=", 1) for item in args.env), args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

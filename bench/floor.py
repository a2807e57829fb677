"""Our server against the stack's floor (issue #23): a minimal Flask app on the same waitress
settings (app/server.py ``waitress_settings``) that does only the HTTP and file work, driven by
the same client in the same run, interleaved with our server, reporting our/floor ratios.

The floor answers each case with what ours answers, without a database, DICOM or checks:
- WADO instance: reads the same 0.5 MB file from disk, returns it as one multipart part;
- WADO series: the 40 files of the series read from disk, as 40 multipart parts;
- metadata, QIDO: the bytes our server answered (captured once), from memory;
- STOW single: writes the 0.5 MB body to a new file with fsync, answers a small JSON.

Each round runs every case on the floor and then on ours, or the other way round (the order
alternates), in short runs, so the two runs of a pair see the same load on a shared machine;
the ratio is taken per round and the table gives the median over the rounds, with the spread of
the per-round ratios (quartiles, min-max). Per request: our server's CPU, the PostgreSQL
processes' CPU during our runs, the floor's CPU, and our minor page faults (buffers handed back
to the OS by malloc and faulted in again on the next request show there). How quiet the machine
was: the CPU used by every other process during the runs (from /proc, in % of the machine's
cores: 100 % is one core) and the time the hypervisor took from this VM (steal).

    python -m bench.floor [--backend postgresql|sqlite] [--rounds 9] [--scale 1.0]
                          [--partitions on|off] [--only CASE] [--env NAME=VALUE ...]

``DICOM_BENCH_PG_URL`` chooses the PostgreSQL server (bench/common.py), e.g.
``postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/postgres`` for its Unix-domain socket.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydicom import dcmread
from pydicom.uid import generate_uid

from .common import (PG_SERVER_URL, ROOT, PostConnection, Result, Server, create_pg_database,
                     drive, drop_pg_database, free_port, machine_description, running_server)
from .stow import Instances
from .wado import getter, instance, stow

MULTIPART_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
#: 32 characters, as long as ours (32 hex digits): the same header and body sizes.
BOUNDARY = "floorboundary0123456789abcdef012"
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


_TICK = os.sysconf("SC_CLK_TCK")


def _process_stat(pid: int) -> tuple[int, int]:
    """(CPU ticks: user + system, minor page faults) of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[7])


def _backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (a backend's command line
    reads ``postgres: user database client state``); none for SQLite."""
    if not database_url.startswith("postgres"):
        return []
    words = {database_url.rsplit("/", 1)[1]}
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    title = cmdline.read().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and words & set(title.split()):
                pids.append(int(entry))
    return pids


def _ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += _process_stat(pid)[0]
        except OSError:  # ended meanwhile
            continue
    return total


def _machine_ticks() -> tuple[int, int]:
    """(busy ticks of all CPUs, stolen ticks) so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


@dataclass
class Run:
    """One run of a case on one server: requests/s, and per request the server's CPU (ms),
    PostgreSQL's CPU (ms) and the server's minor page faults; the machine's CPU used by other
    processes and stolen by the hypervisor, in % of one core."""

    rate: float
    cpu: float
    postgres_cpu: float
    faults: float
    others: float
    steal: float


def measured(server: Server, run: Callable[[], Result], known: list[int],
             database_url: str) -> Run:
    """Run a case on ``server``; ``known`` are the benchmark's own processes (both servers,
    this client) and ``database_url`` our database (its backends' CPU is PostgreSQL's): every
    other process's CPU counts as the machine's noise."""
    postgres = _backend_pids(database_url)
    cpu0, faults0 = _process_stat(server.process.pid)
    pg0, known0, (busy0, steal0) = _ticks(postgres), _ticks(known), _machine_ticks()
    result = run()
    pg1, known1, (busy1, steal1) = _ticks(postgres), _ticks(known), _machine_ticks()
    cpu1, faults1 = _process_stat(server.process.pid)
    per_request = 1000 / _TICK / result.requests
    share = 100 / _TICK / result.seconds
    return Run(result.requests / result.seconds, (cpu1 - cpu0) * per_request,
               (pg1 - pg0) * per_request, (faults1 - faults0) / result.requests,
               max(0, (busy1 - busy0) - (known1 - known0) - (pg1 - pg0)) * share,
               (steal1 - steal0) * share)


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
        ("WADO instance", one, MULTIPART_DICOM, 300, {"files": paths[:1]}),
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
                                             getter(one, MULTIPART_DICOM)),
                         [ours.process.pid, floor.process.pid, os.getpid()],
                         ours.database_url)
        print(f"Our fresh server, only retrieves so far: WADO instance c=1 {fresh.rate:,.0f} "
              f"req/s, {fresh.cpu:.2f} ms CPU and {fresh.faults:.0f} minor page faults per "
              "request\n", flush=True)
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
    known = [ours.process.pid, floor.process.pid, os.getpid()]
    samples: dict[tuple[str, int], list[tuple[Run, Run]]] = {}
    for name, concurrency, go in cases:  # warm-up
        for server in (floor, ours):
            go(server)
    loads = [load_average()]
    for number in range(rounds):
        for name, concurrency, go in cases:
            order = (floor, ours) if number % 2 == 0 else (ours, floor)
            runs = {server is ours: measured(server, lambda: go(server), known,
                                             ours.database_url)
                    for server in order}
            samples.setdefault((name, concurrency), []).append((runs[True], runs[False]))
        loads.append(load_average())
    return _table(samples, rounds, loads)


def _table(samples: dict[tuple[str, int], list[tuple[Run, Run]]], rounds: int,
           loads: list[str]) -> str:
    lines = ["| case | ours req/s | floor req/s | ours/floor | ratio quartiles | ratio min-max "
             "| ours CPU ms/req | PostgreSQL CPU ms/req | floor CPU ms/req "
             "| ours minor faults/req | others' CPU % | steal % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, concurrency), pairs in samples.items():
        ratios = sorted(o.rate / f.rate for o, f in pairs)
        quartiles = (statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1
                     else ratios * 3)

        def med(values: Any) -> float:
            return statistics.median(list(values))
        others = [run.others for pair in pairs for run in pair]
        steal = [run.steal for pair in pairs for run in pair]
        lines.append(
            f"| {name}, c={concurrency} | {med(o.rate for o, _ in pairs):,.0f} "
            f"| {med(f.rate for _, f in pairs):,.0f} | **{statistics.median(ratios):.2f}** "
            f"| {quartiles[0]:.2f}-{quartiles[2]:.2f} | {ratios[0]:.2f}-{ratios[-1]:.2f} "
            f"| {med(o.cpu for o, _ in pairs):.2f} | {med(o.postgres_cpu for o, _ in pairs):.2f} "
            f"| {med(f.cpu for _, f in pairs):.2f} | {med(o.faults for o, _ in pairs):.0f} "
            f"| {med(others):.0f} (max {max(others):.0f}) | {max(steal):.0f} |")
    lines.append(f"\n{rounds} rounds; medians (the ratio: of the per-round ratios); others' CPU: "
                 "every process but the two servers, this client and PostgreSQL, in % of one "
                 "core during the runs; load average (1, 5, 15 min) at the start and after each "
                 f"round: {'; '.join(loads)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.floor")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=9)
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
    postgres = args.backend == "postgresql"
    server = PG_SERVER_URL.split("@", 1)[-1].rsplit("/", 1)[0] if postgres else ""
    print(f"{args.backend}{f' at {server}' if server else ''}, partitions {args.partitions}, "
          f"our server: 1 process x 8 threads, fsync on; {' '.join(args.env)}\n", flush=True)
    run(args.backend, args.rounds, args.scale, args.partitions == "on",
        dict(item.split("=", 1) for item in args.env), args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

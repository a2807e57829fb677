"""Shared benchmark tooling: start a real waitress server, drive it with N client threads.

Benchmarks run the server as a separate process (as users do), on PostgreSQL or SQLite, and
report throughput and latency percentiles. Only loopback addresses are used; every loop is
bounded by a request count.
"""
from __future__ import annotations

import argparse
import atexit
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg2

from app.db import Database

ROOT = Path(__file__).resolve().parents[1]
#: Keep each server's data directory (blobs, SQLite) instead of deleting it at exit.
KEEP_DATA = os.environ.get("DICOM_BENCH_KEEP_DATA", "") not in ("", "0")
_DATA_DIRS: list[Path] = []


def _remove_data_dirs() -> None:
    """Delete the data directories of every server this process ran, after all cases.

    On a journal-less ext4 (this machine's root), creating a file scans past every inode deleted
    in the last minute (six minutes while its inode table block is dirty): deleting one run's
    thousands of files in the middle of a benchmark would slow every later case's file creation.
    """
    for data_dir in _DATA_DIRS:
        shutil.rmtree(data_dir, ignore_errors=True)
    _DATA_DIRS.clear()


atexit.register(_remove_data_dirs)

PG_SERVER_URL = os.environ.get("DICOM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running server process."""

    host: str
    port: int
    process: subprocess.Popen
    data_dir: Path
    database_url: str

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def rss_kb(self) -> int:
        """Current resident set size of the server process."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def peak_rss_kb(self) -> int:
        return _peak_rss_kb(self.process.pid)

    def peak_rss_by_process(self) -> dict[int, int]:
        """Peak RSS of the server process and of each process it forked (DICOM_PROCESSES)."""
        pids = [self.process.pid]
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            with open(f"/proc/{self.process.pid}/task/{task}/children") as children:
                pids += [int(pid) for pid in children.read().split()]
        return {pid: _peak_rss_kb(pid) for pid in pids}


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def create_pg_database() -> str:
    """A fresh PostgreSQL database for one benchmark run; returns its URL."""
    name = f"dicom_bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(PG_SERVER_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG_SERVER_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(PG_SERVER_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@contextmanager
def running_server(backend: str, partitions: bool = False, threads: int = 8,
                   extra_env: dict[str, str] | None = None,
                   database_url: str | None = None) -> Iterator[Server]:
    """Start ``python wsgi.py`` on a free port with a fresh database of ``backend``."""
    data_dir = Path(tempfile.mkdtemp(prefix="dicom-bench-"))
    owns_db = database_url is None
    if database_url is None:
        database_url = (create_pg_database() if backend == "postgresql"
                        else f"sqlite:///{data_dir / 'dicom.sqlite3'}")
    port = free_port()
    env = {**os.environ, "DICOM_DATA_DIR": str(data_dir), "DICOM_DATABASE_URL": database_url,
           "DICOM_PORT": str(port), "DICOM_HOST": "127.0.0.1", "DICOM_THREADS": str(threads),
           "DICOM_ENABLE_DATA_PARTITIONS": "true" if partitions else "false",
           "DICOM_LOG_LEVEL": "WARNING", **(extra_env or {})}
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server("127.0.0.1", port, process, data_dir, database_url)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/check")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if not KEEP_DATA:
            _DATA_DIRS.append(data_dir)  # deleted at exit (see _remove_data_dirs)
        if owns_db and backend == "postgresql":
            drop_pg_database(database_url)


@dataclass
class Result:
    """Throughput and latency of one benchmark case."""

    name: str
    requests: int
    items: int
    nbytes: int
    seconds: float
    latencies: list[float]

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
        return ordered[index]

    def row(self) -> str:
        return (f"| {self.name} | {self.requests} | {self.items_per_second:,.1f} | "
                f"{self.mb_per_second:,.1f} | {self.percentile(50) * 1000:,.1f} | "
                f"{self.percentile(95) * 1000:,.1f} |")


TABLE_HEADER = ("| case | requests | items/s | MB/s | p50 ms | p95 ms |\n"
                "|---|---|---|---|---|---|")


class PostConnection:
    """A keep-alive HTTP/1.1 connection for POSTs with a Content-Length answer (the STOW cases).

    The load generator shares the machine's two cores with the server, so it should cost as
    little as it can: each request goes out with one ``sendmsg`` of its pieces (header, then
    the body's chunks, never joined) and the answer is read with a minimal parser. http.client
    took ~0.55 ms of CPU per 0.5 MB request here, about 8 % of the machine's CPU at 250
    requests/s.
    """

    def __init__(self, host: str, port: int, timeout: float = 600) -> None:
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def post(self, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, bytes]:
        """Send a POST whose body is ``chunks``; return (status, body) of the answer."""
        length = sum(len(chunk) for chunk in chunks)
        head = "".join([f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n",
                        *(f"{name}: {value}\r\n" for name, value in headers.items()),
                        f"Content-Length: {length}\r\n\r\n"]).encode("latin-1")
        self._send([head, *chunks])
        return self._answer()

    def _send(self, buffers: list[bytes]) -> None:
        views = [memoryview(buffer) for buffer in buffers if buffer]
        while views:
            sent = self.sock.sendmsg(views)
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if views and sent:
                views[0] = views[0][sent:]

    def _answer(self) -> tuple[int, bytes]:
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._receive()
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.lower().split(":", 1) for line in lines[1:])
        if "content-length" not in fields:
            raise RuntimeError(f"answer without Content-Length: {head!r}")
        length = int(fields["content-length"])
        while len(data) < length:
            data += self._receive()
        self.pending = data[length:]
        return status, data[:length]

    def _receive(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def drive(server: Server, name: str, concurrency: int, count: int,
          request: Callable[[Any, int], tuple[int, int]],
          connect: Callable[[str, int], Any] | None = None) -> Result:
    """Run ``count`` requests over ``concurrency`` keep-alive connections.

    ``request(conn, i)`` performs request ``i`` and returns (items, bytes) it moved; it must
    read the whole response and raise on an unexpected status. ``conn`` is what
    ``connect(host, port)`` makes: an ``http.client.HTTPConnection`` unless given.
    """
    connect = connect or (lambda host, port: http.client.HTTPConnection(host, port,
                                                                          timeout=600))
    latencies: list[float] = []
    totals = [0, 0]
    lock = threading.Lock()
    counter = iter(range(count))
    errors: list[BaseException] = []

    def worker() -> None:
        conn = connect(server.host, server.port)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            start = time.perf_counter()
            try:
                items, nbytes = request(conn, index)
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                break
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                totals[0] += items
                totals[1] += nbytes
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{name}: {errors[0]!r}")
    return Result(name, len(latencies), totals[0], totals[1], seconds, latencies)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine_description() -> str:
    """One line about the machine, for RESULTS.md."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, Python {sys.version.split()[0]}"


@contextmanager
def scratch_database(backend: str, prefix: str) -> Iterator[str]:
    """The URL of an empty database for one benchmark run, dropped (PostgreSQL) afterwards."""
    if backend == "postgresql":
        url = create_pg_database()
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix=prefix)) / 'index.sqlite3'}"
    try:
        yield url
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


SearchCase = tuple[str, Callable[[int], str]]


def time_searches(server: Server, cases: list[SearchCase], requests: int,
                  request_for: Callable[[Callable[[int], str]], Callable[..., tuple[int, int]]],
                  unit: str) -> list[Result]:
    """Warm up, then time each (name, i -> path) case one request at a time; print a table
    with the mean number of ``unit`` per response."""
    print(TABLE_HEADER.replace(" p95 ms |", f" p95 ms | {unit}/response |") + "---|")
    results = []
    for name, path_for in cases:
        drive(server, name, 1, 10, request_for(path_for))  # warm-up
        result = drive(server, name, 1, requests, request_for(path_for))
        results.append(result)
        print(result.row()[:-1] + f"| {result.items / result.requests:.1f} |", flush=True)
    return results


def search_request(count: Callable[[bytes], int]
                   ) -> Callable[[Callable[[int], str]], Callable[..., tuple[int, int]]]:
    """A ``time_searches`` request: GET the case's path as DICOM JSON; 204 finds nothing, any
    other status but 200 stops the run, and ``count(body)`` says how many items a 200 holds."""
    def request_for(path_for: Callable[[int], str]) -> Callable[..., tuple[int, int]]:
        def request(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
            conn.request("GET", path_for(index), headers={"Accept": "application/dicom+json"})
            response = conn.getresponse()
            body = response.read()
            if response.status == 204:
                return 0, 0
            if response.status != 200:
                raise RuntimeError(f"{path_for(index)}: {response.status} {body[:200]!r}")
            return count(body), len(body)
        return request
    return request_for


def get_request(path_for: Callable[[int], str], headers: dict[str, str] | None = None
                ) -> Callable[[http.client.HTTPConnection, int], tuple[int, int]]:
    """A ``drive`` request: GET ``path_for(index)``; any status but 200 stops the run; one
    item of the body's length."""
    def request(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
        conn.request("GET", path_for(index), headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path_for(index)}: {response.status} {body[:200]!r}")
        return 1, len(body)
    return request


def partition_key(conn: Any, name: str) -> int:
    """The key of the partition with this name."""
    return int(conn.fetchall("SELECT partition_key FROM partitions WHERE partition_name = ?",
                             [name])[0]["partition_key"])


def explain_select(database_url: str, build: Callable[[Any], tuple[str, list[Any]]]) -> str:
    """The plan of the SELECT that ``build(conn)`` returns (SQL with ``?`` and its values):
    EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    database = Database(database_url)
    conn = database.connect()
    try:
        sql, values = build(conn)
        if database.dialect == "sqlite":
            return "\n".join(r["detail"] for r in conn.fetchall("EXPLAIN QUERY PLAN " + sql,
                                                                values))
        rows = conn.fetchall("EXPLAIN (ANALYZE, COSTS OFF) " + sql, values)
        return "\n".join(list(r.values())[0] for r in rows)
    finally:
        database.release(conn)
        database.close()


def print_plans(cases: list[SearchCase], explain: Callable[[str], str]) -> None:
    """Each case's EXPLAIN ANALYZE (of its first request) as Markdown."""
    for name, path_for in cases:
        print(f"\n#### {name}: `GET {path_for(0)}`\n\n```\n{explain(path_for(0))}\n```",
              flush=True)


def latency_main(argv: list[str], description: str, count_option: str, default_count: int,
                 run: Callable[[str, int, int, bool], Any]) -> int:
    """The command line of a latency benchmark: ``--backend``, ``count_option`` (one run per
    count), ``--requests`` per case and ``--explain``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(count_option, type=int, nargs="+", default=[default_count],
                        dest="counts")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args(argv)
    print(machine_description())
    for count in args.counts:
        run(args.backend, count, args.requests, args.explain)
    return 0

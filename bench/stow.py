"""STOW-RS benchmark: 512x512 16-bit CT instances against a running waitress server.

Cases: one instance per request and 50 per multipart request, at concurrency 1 and 4, on
PostgreSQL and SQLite, with fsync on (the default). Then the memory case: one ~1 GiB multipart
request of 2,000 parts, streamed by the client, and the server's peak RSS before and after.

Usage: ``python -m bench.stow [--backends postgresql,sqlite] [--scale 1.0] [--no-memory]
[--processes 2] [--threads 8]``
"""
from __future__ import annotations

import argparse
import http.client
import io
import itertools
import os
import random
import sys
import time
import uuid
from typing import Callable, Iterable, Iterator

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from bench.common import (TABLE_HEADER, PostConnection, Result, Server, drive,
                          machine_description, running_server)

CT = "1.2.840.10008.5.1.4.1.1.2"
#: Placeholders of fixed length, replaced per instance (bytes stay the same length).
STUDY_MARK = b"1.2.999.1." + b"1" * 20
SERIES_MARK = b"1.2.999.2." + b"2" * 20
SOP_MARK = b"1.2.999.3." + b"3" * 20
PARTS_PER_REQUEST = 50


def template() -> bytes:
    """Part-10 bytes of a 512x512 16-bit CT instance with placeholder UIDs (~0.5 MB)."""
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = SOP_MARK.decode()
    ds.StudyInstanceUID = STUDY_MARK.decode()
    ds.SeriesInstanceUID = SERIES_MARK.decode()
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = "BENCH-1", "Bench^Patient", "19700101"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240102", "101112", "ACC1"
    ds.StudyDescription, ds.ReferringPhysicianName, ds.StudyID = "Bench", "Ref^Doc", "S1"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, 1
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelData = (np.random.default_rng(1).integers(0, 4096, 512 * 512, dtype=np.uint16)
                    .tobytes())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Instances:
    """Unique instances made from the template by replacing the placeholder UIDs.

    The load generator shares the machine with the server, so it does as little as it can: an
    instance is sent as its header (UIDs replaced) and the template's pixel data, unjoined.
    """

    def __init__(self) -> None:
        self.template = template()
        cut = self.template.index(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data
        self.head, self.pixels = self.template[:cut], self.template[cut:]
        self.run = uuid.uuid4().int % 10**8
        self.counter = itertools.count(1)
        self.made: list[tuple[int, int]] = []  # (number, series) of every instance made

    def parts(self, series: int = 0) -> list[bytes]:
        """The next instance as [header, pixel data element] (joined, its Part-10 bytes)."""
        n = next(self.counter)
        self.made.append((n, series))
        return self.make(n, series)

    def make(self, n: int, series: int) -> list[bytes]:
        """Instance ``n`` of ``series`` (the same bytes each time)."""
        head = self.head.replace(SOP_MARK, self.uid(3, n))
        head = head.replace(SERIES_MARK, self.uid(2, series))
        head = head.replace(STUDY_MARK, self.uid(1, series // 10))
        return [head, self.pixels]

    def uid(self, level: int, number: int) -> bytes:
        return f"1.2.999.{level}.{self.run:08d}{number:012d}".encode()

    def verify(self, server: Server, sample: int = 20) -> None:
        """Read a sample of the stored instances back: each must be the bytes sent (a benchmark
        that stores wrong bytes fast proves nothing). Raises on the first difference."""
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        try:
            for n, series in random.sample(self.made, min(sample, len(self.made))):
                path = "/v2/studies/{}/series/{}/instances/{}".format(
                    *(u.decode() for u in (self.uid(1, series // 10), self.uid(2, series),
                                           self.uid(3, n))))
                conn.request("GET", path,
                             headers={"Accept": "application/dicom; transfer-syntax=*"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or body != b"".join(self.make(n, series)):
                    raise RuntimeError(f"instance {n} reads back wrong ({response.status})")
        finally:
            conn.close()

    def next(self, series: int = 0) -> bytes:
        return b"".join(self.parts(series))


def multipart_chunks(parts: Iterable[bytes | list[bytes]], boundary: str) -> Iterator[bytes]:
    """The chunks of a multipart body; a part may be given as a list of its chunks."""
    for part in parts:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        yield from ([part] if isinstance(part, bytes) else part)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _post(conn: PostConnection, chunks: list[bytes], content_type: str) -> None:
    status, text = conn.post("/v2/studies", {"Content-Type": content_type,
                                             "Accept": "application/dicom+json"}, chunks)
    if status != 200:
        raise RuntimeError(f"STOW answered {status}: {text[:300]!r}")


def _post_streamed(conn: http.client.HTTPConnection, body: bytes | Iterable[bytes],
                   content_type: str, length: int) -> None:
    """A POST whose body is sent as it is generated (the memory case)."""
    conn.putrequest("POST", "/v2/studies")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Accept", "application/dicom+json")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    for chunk in ([body] if isinstance(body, bytes) else body):
        conn.send(chunk)
    response = conn.getresponse()
    text = response.read()
    if response.status != 200:
        raise RuntimeError(f"STOW answered {response.status}: {text[:300]!r}")


def single_case(server: Server, instances: Instances, concurrency: int, count: int) -> Result:
    def request(conn: PostConnection, index: int) -> tuple[int, int]:
        chunks = instances.parts(series=index // 100)
        _post(conn, chunks, "application/dicom")
        return 1, sum(len(chunk) for chunk in chunks)

    return drive(server, f"single, c={concurrency}", concurrency, count, request,
                 connect=PostConnection)


def multipart_case(server: Server, instances: Instances, concurrency: int,
                   count: int) -> Result:
    def request(conn: PostConnection, index: int) -> tuple[int, int]:
        parts = [instances.parts(series=index) for _ in range(PARTS_PER_REQUEST)]
        boundary = uuid.uuid4().hex
        _post(conn, list(multipart_chunks(parts, boundary)),
              f"multipart/related; type=\"application/dicom\"; boundary={boundary}")
        return len(parts), sum(len(chunk) for part in parts for chunk in part)

    return drive(server, f"multipart x{PARTS_PER_REQUEST}, c={concurrency}", concurrency, count,
                 request, connect=PostConnection)


def memory_case(server: Server, instances: Instances, parts: int = 2000) -> str:
    """Stream one ~1 GiB multipart request; return a line with the peak RSS growth."""
    boundary = uuid.uuid4().hex
    part_size = len(instances.template)
    head = len(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
    length = parts * (head + part_size + 2) + len(f"--{boundary}--\r\n")
    # Warm the server up (imports, caches) before the baseline.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=3600)
    data = instances.next(series=10**6)
    _post_streamed(conn, data, "application/dicom", len(data))
    before = server.peak_rss_by_process()
    started = time.perf_counter()
    _post_streamed(conn, multipart_chunks((instances.parts(series=10**6 + i // 100)
                                           for i in range(parts)), boundary),
                   f"multipart/related; type=\"application/dicom\"; boundary={boundary}",
                   length)
    seconds = time.perf_counter() - started
    peaks = server.peak_rss_by_process()
    conn.close()
    # The process that served the request is the one whose peak grew most.
    pid = max(peaks, key=lambda p: peaks[p] - before.get(p, 0))
    return (f"one request of {parts} parts, {length / 2**30:.2f} GiB: {seconds:.1f} s "
            f"({parts / seconds:.0f} inst/s); peak RSS of the serving process "
            f"{before[pid] / 1024:.0f} MB -> {peaks[pid] / 1024:.0f} MB "
            f"(+{(peaks[pid] - before[pid]) / 1024:.0f} MB)")


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_snapshot(server: Server) -> tuple[int, int]:
    """(CPU ticks of the server's processes, of the PostgreSQL backends of its database).

    Throughput on a shared 2-core machine follows the other load; CPU per instance does not.
    """
    root = server.process.pid
    pids = [root]
    for task in os.listdir(f"/proc/{root}/task"):
        with open(f"/proc/{root}/task/{task}/children") as f:
            pids += [int(p) for p in f.read().split()]
    database = server.database_url.rsplit("/", 1)[-1].encode()
    backends = 0
    if server.database_url.startswith("postgres"):
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if entry.isdigit() and database in f.read():
                        backends += _cpu_ticks(int(entry))
            except OSError:
                continue
    return sum(_cpu_ticks(p) for p in pids), backends


def _machine_ticks() -> list[int]:
    """The machine's CPU time by state (/proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal)."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:9]]


def with_cpu(server: Server, run: Callable[[], Result], notes: list[str],
             others: dict[str, int] | None = None) -> str:
    """The case's table row; a line with its CPU milliseconds per instance goes to ``notes``,
    with how idle the machine was and how much CPU its host took (steal: on a VM, time the
    host ran something else; runs with more of it are slower for reasons outside the server).
    ``others``: more processes to count (name -> pid, e.g. an object store's)."""
    others = others or {}
    before, machine_before = cpu_snapshot(server), _machine_ticks()
    others_before = {name: _cpu_ticks(pid) for name, pid in others.items()}
    result = run()
    after, machine_after = cpu_snapshot(server), _machine_ticks()
    server_ms, pg_ms = ((b - a) * 1000 / _TICK / result.items for a, b in zip(before, after))
    states = [b - a for a, b in zip(machine_before, machine_after)]
    total = sum(states) or 1
    other_ms = "".join(
        f", {name} {(_cpu_ticks(pid) - others_before[name]) * 1000 / _TICK / result.items:.2f} ms"
        for name, pid in others.items())
    notes.append(f"- {result.name}: server {server_ms:.2f} ms, PostgreSQL backends "
                 f"{pg_ms:.2f} ms{other_ms}; machine idle "
                 f"{100 * (states[3] + states[4]) / total:.0f} %, steal {100 * states[7] / total:.0f} %")
    return result.row()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.stow")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--processes", type=int, default=2,
                        help="DICOM_PROCESSES (2: one per core, as README recommends)")
    parser.add_argument("--threads", type=int, default=8, help="DICOM_THREADS per process")
    parser.add_argument("--only", default="", help="comma-separated case filter (single,multi)")
    args = parser.parse_args(argv)
    instances = Instances()
    print(machine_description())
    print(f"instance size: {len(instances.template) / 1e6:.2f} MB, fsync on, "
          f"{args.processes} server process(es) x {args.threads} threads\n")

    def n(value: int) -> int:
        return max(1, int(value * args.scale))

    for backend in args.backends.split(","):
        with running_server(backend, threads=args.threads,
                            extra_env={"DICOM_PROCESSES": str(args.processes)}) as server:
            print(f"### {backend}\n\n{TABLE_HEADER}", flush=True)
            instances.made.clear()  # what this server stored
            # warm-up
            single_case(server, instances, 1, 5)
            notes: list[str] = []
            for concurrency in (1, 4):
                if not args.only or "single" in args.only:
                    print(with_cpu(server, lambda: single_case(
                        server, instances, concurrency, n(300 * concurrency // 2 + 150)), notes),
                        flush=True)
                if not args.only or "multi" in args.only:
                    print(with_cpu(server, lambda: multipart_case(
                        server, instances, concurrency, n(8 * concurrency)), notes), flush=True)
            instances.verify(server)
            print("\nCPU per instance (user + system, all server processes):\n"
                  + "\n".join(notes), flush=True)
        if not args.no_memory and backend == args.backends.split(",")[0]:
            # A server of its own: the throughput cases above raise the peak RSS (bodies of up
            # to DICOM_REQUEST_BUFFER_SIZE in memory per request) and would hide the growth.
            with running_server(backend, threads=args.threads,
                                extra_env={"DICOM_PROCESSES": str(args.processes)}) as server:
                print(f"\nMemory: {memory_case(server, instances)}\n", flush=True)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])

"""WADO-RS benchmark: single instance, series multipart, study metadata (100 instances), frames,
rendered; c=1 and c=4; PostgreSQL and SQLite. ``--rss`` also retrieves a 1 GiB study, and the
metadata of a study of 4,000 instances (about 35 MB of DICOM JSON, streamed), and reports how
much the server's resident memory grew.

    python -m bench.wado [--backend sqlite|postgresql] [--rss]
"""
from __future__ import annotations

import argparse
import http.client
import io
import time
import uuid

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .common import TABLE_HEADER, Server, drive, machine_description, running_server

READ = 1 << 20


def instance(study: str, series: str, rows: int, columns: int, frames: int = 1,
             number: int = 1, comments: int = 0) -> bytes:
    """Part-10 bytes of a synthetic 16-bit CT instance (``comments``: characters of
    ImageComments, to make its metadata larger)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName, ds.Modality = "BENCH", "Bench^Patient", "CT"
    ds.StudyDate, ds.InstanceNumber = "20240101", number
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    if frames > 1:
        ds.NumberOfFrames = frames
    if comments:
        ds.ImageComments = "x" * comments
    rng = np.random.default_rng(number)
    ds.PixelData = rng.integers(0, 4096, rows * columns * frames, dtype=np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = (ds.SOPClassUID,
                                                                     ds.SOPInstanceUID)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def stow(server: Server, files: list[bytes], prefix: str = "") -> None:
    """Store ``files`` in one multipart request (``prefix``: e.g. a partition path)."""
    boundary = uuid.uuid4().hex
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                    + f + b"\r\n" for f in files) + f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=600)
    conn.request("POST", f"{prefix}/studies", body=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"STOW failed: {response.status}")


def getter(path: str, accept: str | None = None, items: int = 1):
    """A request function for ``drive``: GET ``path`` and read the whole body."""
    headers = {"Accept": accept} if accept else {}

    def request(conn: http.client.HTTPConnection, _: int) -> tuple[int, int]:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        nbytes = 0
        while True:
            chunk = response.read(READ)
            if not chunk:
                break
            nbytes += len(chunk)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        return items, nbytes

    return request


def prepare(server: Server) -> list[tuple[str, str, str | None, int, int]]:
    """Store the cases' instances; return the cases (name, path, Accept, items, requests)."""
    study, series = generate_uid(), generate_uid()
    series_files = [instance(study, series, 512, 512, number=i) for i in range(40)]
    stow(server, series_files)  # 40 x 512 KiB
    meta_study, meta_series = generate_uid(), generate_uid()
    stow(server, [instance(meta_study, meta_series, 16, 16, number=i) for i in range(100)])
    multi = instance(study, generate_uid(), 256, 256, frames=30)
    stow(server, [multi])
    from pydicom import dcmread
    multi_ds = dcmread(io.BytesIO(multi), stop_before_pixels=True)
    first = dcmread(io.BytesIO(series_files[0]), stop_before_pixels=True)
    one = f"/studies/{study}/series/{series}/instances/{first.SOPInstanceUID}"
    frames = (f"/studies/{study}/series/{multi_ds.SeriesInstanceUID}/instances/"
              f"{multi_ds.SOPInstanceUID}/frames/1,10,20")
    return [
        ("single instance", one, "application/dicom; transfer-syntax=*", 1, 300),
        ("series multipart (40 x 512 KiB)", f"/studies/{study}/series/{series}",
         'multipart/related; type="application/dicom"; transfer-syntax=*', 40, 30),
        ("study metadata (100 instances)", f"/studies/{meta_study}/metadata", None, 1, 200),
        ("frames 1,10,20 (256x256x16)", frames, None, 3, 300),
        ("rendered jpeg (512x512)", f"{one}/rendered", "image/jpeg", 1, 100),
    ]


def run_cases(server: Server, label: str, cases: list[tuple[str, str, str | None, int, int]],
              only: str | None = None, concurrencies: tuple[int, ...] = (1, 4)) -> list[str]:
    """Drive each case (after a warm-up) at each concurrency; one table row each."""
    rows = []
    for name, path, accept, items, count in cases:
        if only and only not in name:
            continue
        for concurrency in concurrencies:
            drive(server, name, concurrency, max(4, count // 10), getter(path, accept, items))
            result = drive(server, f"{name}, c={concurrency}", concurrency, count,
                           getter(path, accept, items))
            rows.append(result.row().replace("| ", f"| {label} ", 1))
            print(rows[-1], flush=True)
    return rows


def run_backend(backend: str, rss: bool, only: str | None = None) -> list[str]:
    with running_server(backend, extra_env={"DICOM_FSYNC": "false"}) as server:
        rows = run_cases(server, backend, prepare(server), only)
        if rss:
            rows.append(rss_row(server, backend))
            print(rows[-1], flush=True)
            rows.append(rss_metadata_row(server, backend))
            print(rows[-1], flush=True)
    return rows


def rss_row(server: Server, backend: str) -> str:
    """Store a 1 GiB study (64 x 16 MiB), retrieve it, report the server's RSS growth."""
    study = generate_uid()
    for batch in range(8):
        series = generate_uid()
        stow(server, [instance(study, series, 2048, 4096, number=batch * 8 + i)
                      for i in range(8)])
    before = server.rss_kb()
    started = time.perf_counter()
    result = drive(server, "1 GiB study", 1, 1, getter(
        f"/studies/{study}", 'multipart/related; type="application/dicom"; transfer-syntax=*'))
    seconds = time.perf_counter() - started
    after = server.rss_kb()
    return (f"| {backend} 1 GiB study ({result.nbytes / 2**30:.2f} GiB) | 1 | - | "
            f"{result.nbytes / seconds / 1e6:,.1f} | RSS +{(after - before) / 1024:.1f} MB | "
            f"peak RSS {server.peak_rss_kb() / 1024:.0f} MB |")


def rss_metadata_row(server: Server, backend: str, instances: int = 4000) -> str:
    """Store a study of ``instances`` small instances whose DICOM JSON is about 10 KB each,
    retrieve its metadata (streamed in batches), report the server's RSS growth."""
    study, series = generate_uid(), generate_uid()
    for start in range(0, instances, 500):
        stow(server, [instance(study, series, 16, 16, number=n, comments=8000)
                      for n in range(start, min(start + 500, instances))])
    before = server.rss_kb()
    started = time.perf_counter()
    result = drive(server, "study metadata", 1, 1, getter(f"/studies/{study}/metadata"))
    seconds = time.perf_counter() - started
    after = server.rss_kb()
    return (f"| {backend} metadata of {instances} instances ({result.nbytes / 1e6:.1f} MB) | 1 "
            f"| - | {result.nbytes / seconds / 1e6:,.1f} | RSS +{(after - before) / 1024:.1f} MB "
            f"| peak RSS {server.peak_rss_kb() / 1024:.0f} MB |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.wado")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], action="append")
    parser.add_argument("--rss", action="store_true",
                        help="also retrieve a 1 GiB study and a 4,000-instance study's metadata")
    parser.add_argument("--case", help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    print(machine_description())
    print(TABLE_HEADER)
    for backend in args.backend or ["postgresql", "sqlite"]:
        run_backend(backend, args.rss, args.case)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

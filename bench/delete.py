"""DELETE and change-feed benchmark (issue #6).

Per backend: STOW one study of N instances (default 10,000; 100 per request), delete 100 single
instances of it (each recomputes the study/series columns), read the change feed, then DELETE the
whole study in one request, which must take seconds, not minutes (set-based SQL).

    python -m bench.delete [--instances N] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import http.client
import json
import time

from app.blobs import FileSystemBlobStore
from bench.common import TABLE_HEADER, Result, drive, machine_description, running_server
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

BATCH = 100
SINGLE_DELETES = 100


def _study(study_uid: str, count: int) -> list[tuple[str, str, bytes]]:
    series = [uid() for _ in range(10)]
    out = []
    for i in range(count):
        ds = make_dataset(study_uid, series[i % len(series)], InstanceNumber=i + 1)
        out.append((ds.SeriesInstanceUID, ds.SOPInstanceUID, to_bytes(ds)))
    return out


def run(backend: str, instances: int) -> list[Result]:
    study_uid = uid()
    data = _study(study_uid, instances)
    batches = [data[i:i + BATCH] for i in range(0, len(data), BATCH)]
    results = []
    with running_server(backend) as server:
        def stow(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
            body, content_type = multipart([part for _, _, part in batches[index]])
            conn.request("POST", f"/studies/{study_uid}", body=body,
                         headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"STOW returned {response.status}")
            return len(batches[index]), len(body)

        results.append(drive(server, f"{backend}: STOW {instances} instances, {BATCH}/request",
                             2, len(batches), stow))

        def delete_one(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
            series, sop, _ = data[index]
            conn.request("DELETE", f"/studies/{study_uid}/series/{series}/instances/{sop}")
            response = conn.getresponse()
            response.read()
            if response.status != 204:
                raise RuntimeError(f"DELETE instance returned {response.status}")
            return 1, 0

        singles = min(SINGLE_DELETES, instances // 2)
        results.append(drive(server, f"{backend}: DELETE instance in a {instances}-instance study",
                             2, singles, delete_one))

        def feed(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
            conn.request("GET", f"/changefeed?offset={index * 200}&limit=200")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"change feed returned {response.status}")
            return len(json.loads(body)), len(body)

        results.append(drive(server, f"{backend}: GET /changefeed (200 entries, metadata)",
                             2, 20, feed))

        remaining = instances - singles

        def delete_study(conn: http.client.HTTPConnection, index: int) -> tuple[int, int]:
            started = time.perf_counter()
            conn.request("DELETE", f"/studies/{study_uid}")
            response = conn.getresponse()
            response.read()
            if response.status != 204:
                raise RuntimeError(f"DELETE study returned {response.status}")
            print(f"  DELETE study of {remaining} instances: "
                  f"{time.perf_counter() - started:.2f} s", flush=True)
            return remaining, 0

        results.append(drive(server, f"{backend}: DELETE study of {remaining} instances",
                             1, 1, delete_study))
        files = sum(1 for _ in FileSystemBlobStore(server.data_dir / "blobs").keys())
        if files:
            raise RuntimeError(f"{files} files left after deleting the study")
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.delete")
    parser.add_argument("--instances", type=int, default=10000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    print(machine_description())
    print(TABLE_HEADER)
    for backend in args.backends.split(","):
        for result in run(backend, args.instances):
            print(result.row(), flush=True)
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))

"""Object storage benchmark (issue #17): the S3 blob store on a local SeaweedFS server (the
test suite's, tests/s3_server.py) against the file-system blob store, in the same run, on
PostgreSQL: STOW 1 and 50 instances per request at c=4 (bench.stow's cases), then WADO
single instance, series, study metadata and frames (bench.wado's cases), on S3 with the
node's read cache off, cold and warm (``S3_CACHE_STATES``).

    python -m bench.s3 [--scale 1.0] [--processes 2] [--concurrency 1,4] [--only stow|wado]
                       [--s3-cache off,cold,warm]
"""
from __future__ import annotations

import argparse
import sys
import tempfile

from bench import stow as stow_bench
from bench import wado as wado_bench
from bench.common import TABLE_HEADER, machine_description, running_server
from tests.s3_server import SeaweedServer

BLOB_STORES = ("filesystem", "s3")


def blob_env(blob_store: str, server: SeaweedServer | None) -> dict[str, str]:
    """The server environment of ``blob_store`` (a new bucket on ``server`` for s3)."""
    if blob_store != "s3" or server is None:
        return {}
    return {**server.environment(), "DICOM_BLOB_STORE": "s3",
            "DICOM_S3_BUCKET": server.new_bucket(), "DICOM_S3_ENDPOINT_URL": server.endpoint_url,
            "DICOM_S3_REGION": server.region}


def run_stow(server: SeaweedServer, processes: int, scale: float) -> None:
    instances = stow_bench.Instances()
    print(f"\n### STOW (instance {len(instances.template) / 1e6:.2f} MB, fsync on, "
          f"{processes} server processes)\n\n{TABLE_HEADER}", flush=True)
    for blob_store in BLOB_STORES:
        env = {"DICOM_PROCESSES": str(processes), **blob_env(blob_store, server)}
        with running_server("postgresql", extra_env=env) as dicom:
            instances.made.clear()
            stow_bench.single_case(dicom, instances, 1, 5)  # warm-up
            notes: list[str] = []
            # The object store's CPU per instance too (weed: one process, tests/s3_server.py).
            others = {"SeaweedFS": server.process.pid} if blob_store == "s3" and server.process else None
            for run in (lambda: stow_bench.single_case(dicom, instances, 4, max(4, int(450 * scale))),
                        lambda: stow_bench.multipart_case(dicom, instances, 4, max(1, int(24 * scale)))):
                row = stow_bench.with_cpu(dicom, run, notes, others)
                print(row.replace("| ", f"| {blob_store} ", 1), flush=True)
            instances.verify(dicom)
            print("\n".join(f"  {blob_store}: {note}" for note in notes), flush=True)


#: The S3 WADO runs, by the state of the node's read cache: ``off`` (no cache: every read a
#: GET), ``cold`` (cache on, nothing written through, every copy too old at once: each read is
#: a first read, a GET written to the cache), ``warm`` (written through on STOW: every read
#: from the node's disk).
S3_CACHE_STATES = {
    "off": {"DICOM_S3_CACHE_MAX_MB": "0"},
    "cold": {"DICOM_S3_CACHE_WRITE_THROUGH": "false", "DICOM_S3_CACHE_MAX_AGE_SECONDS": "0"},
    "warm": {},
}


def run_wado(server: SeaweedServer, concurrencies: tuple[int, ...],
             cache_states: tuple[str, ...] = tuple(S3_CACHE_STATES)) -> None:
    print(f"\n### WADO\n\n{TABLE_HEADER}", flush=True)
    runs = [("filesystem", {})] + [(f"s3 cache {state}", S3_CACHE_STATES[state])
                                   for state in cache_states]
    for label, cache_env in runs:
        env = {"DICOM_FSYNC": "false", **blob_env(label.split()[0], server), **cache_env}
        with running_server("postgresql", extra_env=env) as dicom:
            cases = [case for case in wado_bench.prepare(dicom) if "rendered" not in case[0]]
            wado_bench.run_cases(dicom, label, cases, concurrencies=concurrencies)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.s3")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply STOW request counts")
    parser.add_argument("--processes", type=int, default=2, help="DICOM_PROCESSES for STOW")
    parser.add_argument("--concurrency", default="1,4", help="WADO concurrencies")
    parser.add_argument("--only", choices=["stow", "wado"])
    parser.add_argument("--s3-cache", default=",".join(S3_CACHE_STATES),
                        help="WADO on S3 with the read cache in these states (off,cold,warm)")
    args = parser.parse_args(argv)
    print(machine_description())
    with tempfile.TemporaryDirectory(prefix="bench-seaweedfs-") as root:
        with SeaweedServer(root) as server:
            print(f"S3: SeaweedFS `weed server` on 127.0.0.1 (one process, data in {root})")
            if args.only != "wado":
                run_stow(server, args.processes, args.scale)
            if args.only != "stow":
                run_wado(server, tuple(int(c) for c in args.concurrency.split(",")),
                         tuple(args.s3_cache.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Live API check: start the real server and run the Postman collections and curl scripts.

``make api-check`` (and ``.ci/run``) runs this. For each partition mode (on, then off) it starts
waitress on a free port with a fresh database (PostgreSQL by default, ``--sqlite`` for SQLite),
runs the collection with newman (installed under ``.tools/`` by the Makefile), the
reference-style collection (partitions on, ``baseUrl`` = ``.../v1``), and the curl example
scripts. Any failing request fails the check.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import running_server

ROOT = Path(__file__).resolve().parents[1]
NEWMAN = ROOT / ".tools" / "node_modules" / ".bin" / "newman"
POSTMAN = ROOT / "postman"
CURL = ROOT / "examples" / "curl"
SAMPLES = ROOT / "tests" / "data"


def run(command: list[str], **kwargs) -> str:
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True, **kwargs)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"FAILED ({result.returncode}): {' '.join(command)}")
    return result.stdout


def newman(collection: str, base_url: str, server_url: str, environment: str | None) -> None:
    command = [str(NEWMAN), "run", str(POSTMAN / collection), "--working-dir",
               str(POSTMAN / "data"), "--env-var", f"baseUrl={base_url}", "--env-var",
               f"serverUrl={server_url}", "--bail", "--reporters", "cli",
               "--reporter-cli-no-banner", "--reporter-cli-no-console"]
    if environment:
        command[3:3] = ["-e", str(POSTMAN / environment)]
    run(command)


def curl_scripts(base_url: str, partition: str | None) -> None:
    """The curl examples, end to end: store, search, retrieve, metadata, render, export, bulk
    update, feed, delete, a worklist round trip, and (partitions on) partition administration."""
    args = ["--base-url", base_url] + (["--partition", partition] if partition else [])
    run(["bash", str(CURL / "store.sh"), *args, str(SAMPLES)])
    listing = run(["bash", str(CURL / "search.sh"), *args, "AccessionNumber=*"])
    studies = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert studies, "search found no study"
    study = studies[0]
    if partition:  # the same study, found by searching every partition
        found = run(["bash", str(CURL / "search.sh"), *args[:2], "--partition", "*",
                     f"StudyInstanceUID={study}"]).split()
        assert found[0] == study and found[-2] == partition, found
        assert found[-1].endswith(f"/partitions/{partition}/studies/{study}"), found
    with tempfile.TemporaryDirectory() as folder:
        run(["bash", str(CURL / "retrieve-study.sh"), *args, study, folder])
        saved = list(Path(folder).glob("*.dcm"))
        assert saved, "retrieve-study saved nothing"
        metadata = run(["bash", str(CURL / "metadata.sh"), *args, study])
        sop, _, _ = metadata.splitlines()[0].partition(" ")
        instances = run(["curl", "-sf", "-H", "Accept: application/dicom+json",
                         f"{base_url}{'/partitions/' + partition if partition else ''}"
                         f"/studies/{study}/instances?SOPInstanceUID={sop}"])
        series = json.loads(instances)[0]["0020000E"]["Value"][0]
        png = Path(folder) / "frame.png"
        run(["bash", str(CURL / "render.sh"), *args, study, series, sop, "1", str(png)])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "render.sh did not write a PNG"
    exported = run(["bash", str(CURL / "export.sh"), *args, "curl", study])
    assert "succeeded exported" in exported and "skipped 0" in exported, \
        "export.sh did not export the study"
    updated = run(["bash", str(CURL / "bulk-update.sh"), *args, study, "Curl^Updated", "CURL-1"])
    assert "succeeded" in updated, "bulk-update.sh did not succeed"
    feed = run(["bash", str(CURL / "changefeed.sh"), *args])
    assert "Create" in feed, "change feed shows no Create entry"
    run(["bash", str(CURL / "delete.sh"), *args, study])
    worklist = run(["bash", str(CURL / "workitems.sh"), *args])
    assert "complete 200 COMPLETED" in worklist and "CANCELED" in worklist, \
        "workitems.sh did not complete and cancel its workitems"
    if partition:
        steps = run(["bash", str(CURL / "partitions.sh"), "--base-url", base_url, partition,
                     f"{partition}-Renamed"])
        assert f"renamed {partition}-Renamed" in steps and "delete succeeded 100" in steps, \
            "partitions.sh did not rename and delete the partition"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead of PostgreSQL")
    options = parser.parse_args(argv)
    backend = "sqlite" if options.sqlite else "postgresql"
    if not NEWMAN.exists():
        raise SystemExit("newman is not installed: run `make api-check`")
    for partitions in (True, False):
        print(f"\n=== API check: {backend}, partitions {'on' if partitions else 'off'} ===",
              flush=True)
        exports = tempfile.mkdtemp(prefix="dicom-api-check-exports-")
        with running_server(backend, partitions=partitions,
                            extra_env={"DICOM_WORKER_POLL_SECONDS": "0.2",
                                       "DICOM_ENABLE_EXPORT": "true",
                                       "DICOM_EXPORT_ROOT": exports}) as server:
            environment = ("partitioned.postman_environment.json" if partitions
                           else "unpartitioned.postman_environment.json")
            newman("dicomweb.postman_collection.json", server.base, server.base, environment)
            if partitions:
                newman("reference-style.postman_collection.json", f"{server.base}/v1",
                       server.base, None)
            curl_scripts(server.base, "CurlSite" if partitions else None)
        shutil.rmtree(exports, ignore_errors=True)
    print("\nAPI check passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

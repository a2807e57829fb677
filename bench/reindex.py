"""Re-index benchmark (issue #7): add one extended query tag over N stored instances.

Seeds N instances directly with SQL (studies, series, instances, DICOM JSON metadata; no STOW,
no files), starts the real server with its background worker, adds an instance-level tag
(InstitutionName, LO) and waits for the operation to succeed. Then measures QIDO on the new tag
(``GET /instances?InstitutionName=...``, when QIDO supports extended query tags) and the
index lookup in SQL alone.

    flock /tmp/bench.lock .venv/bin/python -m bench.reindex [--instances 100000] [--batch 1000]

``--takeover`` instead runs two server processes on one database, kills the one that owns the
re-index mid-way (SIGKILL) and checks that the other finishes it after the lease:

    flock /tmp/bench.lock .venv/bin/python -m bench.reindex --takeover --instances 20000
"""
from __future__ import annotations

import argparse
import copy
import http.client
import json
import sys
import time
from datetime import datetime, timezone

import psycopg2
import psycopg2.extras

from app.db import Database
from app.dicomweb.json_model import add_bulkdata_element, to_dicom_json
from bench.common import (TABLE_HEADER, create_pg_database, drive, drop_pg_database,
                          machine_description, running_server)
from tests.dicom_factory import make_dataset

INSTANCES_PER_SERIES = 10
DISTINCT_VALUES = 1000
TAG = {"path": "InstitutionName", "level": "Instance"}


def _template() -> dict:
    ds = make_dataset(InstitutionName="X", Manufacturer="ACME", SeriesDescription="Axial",
                      ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], SliceThickness="1.25",
                      KVP="120", PixelSpacing=["0.5", "0.5"], ImagePositionPatient=["0", "0", "1"],
                      ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
                      BodyPartExamined="CHEST", PatientSex="F", PatientAge="042Y")
    metadata = to_dicom_json(ds)
    add_bulkdata_element(metadata, 0x7FE00010, "OW")
    return metadata


def seed(url: str, count: int) -> None:
    """Insert ``count`` instances (10 per series, one series per study) in the default
    partition, with watermarks 1..count."""
    template = _template()
    now = datetime.now(timezone.utc)
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    studies, series, instances, metadata = [], [], [], []
    for watermark in range(1, count + 1):
        group = (watermark - 1) // INSTANCES_PER_SERIES + 1
        study_uid, series_uid = f"1.2.3.{group}", f"1.2.3.{group}.1"
        sop_uid = f"1.2.3.{group}.1.{watermark}"
        if (watermark - 1) % INSTANCES_PER_SERIES == 0:
            studies.append((group, 1, study_uid, f"PID{group}", now))
            series.append((group, group, 1, series_uid, "CT", now))
        instances.append((watermark, 1, group, group, study_uid, series_uid, sop_uid, watermark,
                          watermark, 1, "0" * 64, 1000, now, now))
        dataset = copy.deepcopy(template)
        dataset["0020000D"]["Value"] = [study_uid]
        dataset["0020000E"]["Value"] = [series_uid]
        dataset["00080018"]["Value"] = [sop_uid]
        dataset["00080080"]["Value"] = [f"Hospital-{watermark % DISTINCT_VALUES}"]
        metadata.append((watermark, 1, json.dumps(dataset, separators=(",", ":"))))
    psycopg2.extras.execute_values(
        cur, "INSERT INTO studies (study_key, partition_key, study_instance_uid, patient_id,"
        " created_date) VALUES %s", studies, page_size=2000)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO series (series_key, study_key, partition_key, series_instance_uid,"
        " modality, created_date) VALUES %s", series, page_size=2000)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO instances (instance_key, partition_key, study_key, series_key,"
        " study_instance_uid, series_instance_uid, sop_instance_uid, watermark,"
        " original_watermark, status, blob_key, blob_size, created_date,"
        " last_status_updated_date) VALUES %s", instances, page_size=2000)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO instance_metadata (watermark, partition_key, dataset) VALUES %s",
        metadata, page_size=2000)
    for table, column in (("studies", "study_key"), ("series", "series_key"),
                          ("instances", "instance_key")):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                    f" (SELECT max({column}) FROM {table}))")
    cur.execute("SELECT setval('watermark_sequence', %s)", (count,))
    conn.commit()
    cur.execute("ANALYZE")
    conn.close()


def _request(conn: http.client.HTTPConnection, method: str, path: str,
             body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def _sql_lookup_ms(url: str, rounds: int = 200) -> list[float]:
    """Latency of the value-table lookup QIDO performs for the tag (fallback measurement)."""
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("SELECT tag_key FROM extended_query_tags WHERE tag_path = '00080080'")
    tag_key = cur.fetchone()[0]
    latencies = []
    for i in range(rounds):
        start = time.perf_counter()
        cur.execute(
            "SELECT i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid"
            "  FROM extended_query_tag_string v JOIN instances i ON i.instance_key ="
            " v.instance_key WHERE v.tag_key = %s AND v.partition_key = 1 AND v.tag_value = %s"
            " AND i.status = 1 ORDER BY i.watermark DESC LIMIT 100",
            (tag_key, f"Hospital-{i % DISTINCT_VALUES}"))
        cur.fetchall()
        latencies.append(time.perf_counter() - start)
    conn.close()
    return latencies


def takeover(url: str, count: int, lease: int = 5) -> None:
    """Kill the process running a re-index; the other server process must finish it."""
    env = {"DICOM_ENABLE_BACKGROUND_WORKER": "true", "DICOM_WORKER_POLL_SECONDS": "0.1",
           "DICOM_REINDEX_BATCH_SIZE": "500", "DICOM_OPERATION_LEASE_SECONDS": str(lease)}
    with running_server("postgresql", database_url=url, extra_env=env) as first, \
            running_server("postgresql", database_url=url, extra_env=env) as second:
        conn = http.client.HTTPConnection(first.host, first.port, timeout=60)
        status, body = _request(conn, "POST", "/extendedquerytags", json.dumps([TAG]).encode(),
                                {"Content-Type": "application/json"})
        assert status == 202, body
        operation_id = json.loads(body)["id"]
        pg = psycopg2.connect(url)
        pg.autocommit = True
        cur = pg.cursor()
        owner = None
        while owner is None:
            time.sleep(0.2)
            cur.execute("SELECT owner, percent_complete FROM operations")
            owner, percent = cur.fetchone()
        pid = int(owner.split(":")[1])
        victim, survivor = (first, second) if first.process.pid == pid else (second, first)
        victim.process.kill()
        victim.process.wait()
        killed = time.perf_counter()
        print(f"killed process {pid} at {percent}%", flush=True)
        conn = http.client.HTTPConnection(survivor.host, survivor.port, timeout=60)
        while True:
            status, body = _request(conn, "GET", f"/operations/{operation_id}")
            if status == 200:
                break
            time.sleep(0.2)
        cur.execute("SELECT count(*) FROM extended_query_tag_string")
        rows = cur.fetchone()[0]
        pg.close()
        print(f"{json.loads(body)['status']} {time.perf_counter() - killed:.1f} s after the "
              f"kill (lease {lease} s); {rows} of {count} instances indexed")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--takeover", action="store_true")
    args = parser.parse_args(argv)

    url = create_pg_database()
    try:
        Database(url).migrate()
        started = time.perf_counter()
        seed(url, args.instances)
        print(f"seeded {args.instances} instances in {time.perf_counter() - started:.1f} s",
              flush=True)
        if args.takeover:
            takeover(url, args.instances)
            return 0
        env = {"DICOM_ENABLE_BACKGROUND_WORKER": "true", "DICOM_WORKER_POLL_SECONDS": "0.2",
               "DICOM_REINDEX_BATCH_SIZE": str(args.batch)}
        with running_server("postgresql", database_url=url, extra_env=env) as server:
            conn = http.client.HTTPConnection(server.host, server.port, timeout=600)
            started = time.perf_counter()
            status, body = _request(conn, "POST", "/extendedquerytags",
                                    json.dumps([TAG]).encode(),
                                    {"Content-Type": "application/json"})
            assert status == 202, body
            operation_id = json.loads(body)["id"]
            while True:
                status, body = _request(conn, "GET", f"/operations/{operation_id}")
                if status == 200:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            operation = json.loads(body)
            assert operation["status"] == "succeeded", operation
            worker_seconds = (datetime.fromisoformat(operation["lastUpdatedTime"])
                              - datetime.fromisoformat(operation["createdTime"])).total_seconds()
            print(f"\n{machine_description()}\n")
            print("| case | instances | wall s (POST to 200) | instances/s |\n|---|---|---|---|")
            print(f"| re-index 1 instance-level LO tag, batch {args.batch} | {args.instances} |"
                  f" {seconds:.1f} | {args.instances / seconds:,.0f} |")
            print(f"(operation created -> succeeded: {worker_seconds:.1f} s)\n")

            status, _ = _request(conn, "GET", "/instances?InstitutionName=Hospital-7",
                                 headers={"Accept": "application/dicom+json"})
            conn.close()
            if status in (200, 204):
                def query(c: http.client.HTTPConnection, i: int) -> tuple[int, int]:
                    code, data = _request(c, "GET", "/instances?InstitutionName=Hospital-"
                                          f"{i % DISTINCT_VALUES}",
                                          headers={"Accept": "application/dicom+json"})
                    assert code == 200, code
                    return 1, len(data)

                def query_limited(c: http.client.HTTPConnection, i: int) -> tuple[int, int]:
                    code, data = _request(c, "GET", "/instances?limit=10&InstitutionName="
                                          f"Hospital-{i % DISTINCT_VALUES}",
                                          headers={"Accept": "application/dicom+json"})
                    assert code == 200, code
                    return 1, len(data)

                print(TABLE_HEADER)
                print(drive(server, "QIDO /instances?InstitutionName=X (100 matches)", 1,
                            args.queries, query).row())
                print(drive(server, "QIDO /instances?InstitutionName=X&limit=10", 1,
                            args.queries, query_limited).row())
            else:
                print(f"QIDO answered {status} for the tag (no extended query tags in QIDO)")
            latencies = sorted(_sql_lookup_ms(url, args.queries))
            print(f"\nSQL lookup of the tag's value (100 matches, newest first): p50 "
                  f"{latencies[len(latencies) // 2] * 1000:.2f} ms, p95 "
                  f"{latencies[int(len(latencies) * 0.95)] * 1000:.2f} ms")
    finally:
        drop_pg_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

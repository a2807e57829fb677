"""Partition statistics (issue #20): read latency at scale, and what keeping them costs
concurrent stores into one partition.

    python -m bench.partition_statistics                        # PostgreSQL, 1,000,000 instances
    python -m bench.partition_statistics --instances 100000 --backend sqlite
    python -m bench.partition_statistics --contention           # PostgreSQL only

Latency: seed N instances directly (bench/seed.py, 4 partitions; the seed's COPY fires the
counting triggers like any insert), check that the statistics equal the seeded counts, start the
server and time ``GET /partitions/Site1`` and ``GET /partitions?includeStatistics=true`` one
request at a time.

Contention: 8 threads, each committing transactions of one instance (the store path's
``add_instance``, no files; a study per thread, a series per 10 instances) into one partition, on PostgreSQL: instances per second with the
statistics as migrated (16 slots per partition), with a single slot (every transaction
updates one row, as a plain counter would), and with the counting triggers disabled.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime, timezone

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid as uid

from app.dao import instances as instance_dao
from app.dao import partitions as partition_dao
from app.db import Database
from app.models import Partition
from app.services.instance_index import index_columns

from .common import (get_request, machine_description, running_server, scratch_database,
                     time_searches)
from .seed import seed

THREADS = 8
PER_THREAD = 300
SERIES_SIZE = 10
#: The migration's functions redefined with slot 0 instead of the transaction's slot.
ONE_SLOT_TRIGGERS = """DO $$
DECLARE definition text;
BEGIN
    FOR definition IN SELECT replace(pg_get_functiondef(oid), 'txid_current() % 16', '0')
                        FROM pg_proc WHERE prosrc LIKE '%txid_current() % 16%' LOOP
        EXECUTE definition;
    END LOOP;
END $$"""


def latency(backend: str, instances: int, requests: int) -> None:
    with scratch_database(backend, "statistics-bench-") as url:
        seeded = seed(url, instances)
        print(f"\n### {backend}, {instances:,} instances in 4 partitions "
              f"(seeded in {seeded['seconds']:.0f} s)\n", flush=True)
        database = Database(url)
        conn = database.connect()
        try:
            totals = partition_dao.list_statistics(conn)
        finally:
            database.release(conn)
            database.close()
        counted = sum(s.instances for s in totals.values())
        if counted != seeded["counts"]["instances"]:
            raise RuntimeError(f"statistics say {counted} instances, seeded "
                               f"{seeded['counts']['instances']}")
        with running_server(backend, partitions=True, database_url=url) as server:
            time_searches(server, [
                ("GET /partitions/Site1", lambda i: "/partitions/Site1"),
                ("GET /partitions?includeStatistics=true",
                 lambda i: "/partitions?includeStatistics=true"),
            ], requests, get_request, "partitions")


def _new_instance(partition_key: int, study: str, series: str) -> instance_dao.NewInstance:
    """The index rows the store would write for a small CT instance (the store's own mapping
    from a dataset to columns)."""
    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, uid()
    ds.PatientID, ds.Modality = "P", "CT"
    study_columns, series_columns, _ = index_columns(ds, set())
    return instance_dao.NewInstance(
        partition_key=partition_key, study=study_columns, series=series_columns,
        sop_instance_uid=ds.SOPInstanceUID, sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        instance_number=1, transfer_syntax_uid="1.2.840.10008.1.2.1", number_of_frames=1,
        blob_key=uid().replace(".", "")[:64].ljust(64, "0"), blob_size=1000,
        metadata_json=json.dumps({}))


def _stores_per_second(database: Database, partition: Partition) -> float:
    errors: list[BaseException] = []

    def worker() -> None:
        conn = database.connect()
        try:
            study = uid()
            for number in range(PER_THREAD):
                if number % SERIES_SIZE == 0:
                    series = uid()
                with conn.transaction(write=True):
                    instance_dao.add_instance(conn, _new_instance(
                        int(partition.partition_key), study, series),
                        datetime.now(timezone.utc))
        except BaseException as exc:  # reported after the run
            errors.append(exc)
        finally:
            database.release(conn)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"a store failed: {errors[0]!r}")
    return THREADS * PER_THREAD / (time.perf_counter() - started)


def _execute(database: Database, sql: str) -> None:
    conn = database.connect()
    try:
        with conn.raw.cursor() as cur:
            cur.execute(sql)
        conn.raw.commit()
    finally:
        database.release(conn)


def contention() -> None:
    print(f"\n### Concurrent stores into one partition (PostgreSQL, {THREADS} threads, "
          f"{PER_THREAD} one-instance transactions each)\n", flush=True)
    print("| statistics | instances/s |\n|---|---|")
    cases: list[tuple[str, str | None]] = [
        ("16 slots (as migrated)", None), ("one row per partition", ONE_SLOT_TRIGGERS),
        ("none (triggers disabled)", "ALTER TABLE studies DISABLE TRIGGER USER;"
         " ALTER TABLE series DISABLE TRIGGER USER; ALTER TABLE instances DISABLE TRIGGER USER")]
    for name, change in cases:
        with scratch_database("postgresql", "statistics-bench-") as url:
            database = Database(url, pool_size=THREADS + 2)
            database.migrate()
            try:
                if change:
                    _execute(database, change)
                conn = database.connect()
                try:
                    with conn.transaction(write=True):
                        partition_dao.add_partition_if_missing(conn, "Site1")
                    partition = partition_dao.get_partition(conn, "Site1")
                finally:
                    database.release(conn)
                assert partition is not None
                _stores_per_second(database, partition)  # warm-up
                rate = _stores_per_second(database, partition)
            finally:
                database.close()
        print(f"| {name} | {rate:,.0f} |", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--contention", action="store_true")
    args = parser.parse_args(argv)
    print(machine_description())
    if args.contention:
        contention()
    else:
        latency(args.backend, args.instances, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

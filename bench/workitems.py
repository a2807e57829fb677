"""UPS-RS worklist search latency at scale (issue #18: under 10 ms p50 with 100,000 workitems on
PostgreSQL): seed N workitems directly (COPY, with the searchable values the service computes),
start the server on that index, time searches and a retrieve one request at a time, and print
each search's plan (EXPLAIN ANALYZE; EXPLAIN QUERY PLAN on SQLite).

    python -m bench.workitems                                  # PostgreSQL, 100,000 workitems
    python -m bench.workitems --workitems 10000 100000 --explain
    python -m bench.workitems --backend sqlite --workitems 100000

Workitems are in partition Site1 (Site2 holds a tenth as many, interleaved, so the partition
filter matters): states 20 % SCHEDULED, 5 % IN PROGRESS, 65 % COMPLETED, 10 % CANCELED; start times
about 100 a day; 500 patients (two hundred workitems each); 20 stations.
"""
from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, quote, urlsplit

from app.dao import workitems as dao
from app.dicomweb.ups_query import parse_search
from app.services.workitems import index_workitem

from .common import (Result, explain_select, latency_main, partition_key, print_plans,
                     running_server, scratch_database, search_request, time_searches)
from .seed import BulkLoad, bulk_load, last_name

PARTITION = "Site1"
UID_ROOT = "1.2.826.0.1.3680043.10.543.77"
STATES = ["SCHEDULED"] * 20 + ["IN PROGRESS"] * 5 + ["COMPLETED"] * 65 + ["CANCELED"] * 10
FIRST_DAY = datetime(2024, 1, 1)
WORKITEM_COLUMNS = ("workitem_key", "partition_key", "workitem_uid", "transaction_uid",
                    "procedure_step_state", "patient_name", "patient_name_words", "patient_id",
                    "scheduled_start_datetime", "study_instance_uid", "dataset", "summary",
                    "created_date", "updated_date")
VALUE_COLUMNS = ("partition_key", "workitem_key", "tag_path", "tag_value")


def _el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _code(value: str, meaning: str) -> dict[str, Any]:
    return {"00080100": _el("SH", value), "00080102": _el("SH", "99BENCH"),
            "00080104": _el("LO", meaning)}


def dataset(number: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """Workitem ``number``'s dataset (as create would store it) and its state."""
    patient = number % 500
    start = FIRST_DAY + timedelta(minutes=number * 14.4 + rng.randrange(10))
    state = rng.choice(STATES)
    station = f"ST{number % 20:02d}"
    ds = {
        "00080016": _el("UI", "1.2.840.10008.5.1.4.34.6.1"),
        "00080018": _el("UI", f"{UID_ROOT}.{number}"),
        "00081195": _el("UI", f"{UID_ROOT}.9.{number}") if state != "SCHEDULED" else _el("UI"),
        "00081080": _el("LO", "Admitting diagnoses"),
        "00081084": _el("SQ", {"00080104": _el("LO", "Diagnosis")}),
        "00100010": _el("PN", {"Alphabetic": f"{last_name(patient)}^Pat{patient % 7}"}),
        "00100020": _el("LO", f"PID-{patient}"),
        "00100021": _el("LO"), "00100024": _el("SQ"), "00101002": _el("SQ"),
        "00100030": _el("DA", "19700101"), "00100040": _el("CS", "O"),
        "00380010": _el("LO", f"ADM-{number}"), "00380014": _el("SQ", {}),
        "0020000D": _el("UI", f"{UID_ROOT}.5.{number // 3}"),
        "00400400": _el("LT"),
        "00404005": _el("DT", start.strftime("%Y%m%d%H%M%S")),
        "00404010": _el("DT", start.strftime("%Y%m%d%H%M%S.000000")),
        "00404018": _el("SQ", _code("AI-TRIAGE", "AI triage")),
        "00404021": _el("SQ"),
        "00404025": _el("SQ", _code(station, "Station name")),
        "00404026": _el("SQ", _code("CT", "Station class")),
        "00404027": _el("SQ", _code(f"B{number % 5}", "Geographic location")),
        "00404041": _el("CS", "READY"),
        "0040A370": _el("SQ", {"0020000D": _el("UI", f"{UID_ROOT}.5.{number // 3}"),
                               "00080050": _el("SH", f"ACC{number}"),
                               "00401001": _el("SH", f"RP{number % 1000}")}),
        "00741000": _el("CS", state), "00741002": _el("SQ"),
        "00741200": _el("CS", rng.choice(["HIGH", "MEDIUM", "LOW"])),
        "00741202": _el("LO", "worklist"), "00741204": _el("LO", "AI triage"),
        "00741210": _el("SQ"), "00741216": _el("SQ"),
    }
    return ds, state


def generate(count: int, partition_keys: tuple[int, int], seed_value: int
             ) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Rows of ``count`` workitems; every eleventh goes to the second partition (tenants'
    workitems interleave, as they arrive)."""
    rng = random.Random(seed_value)
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for number in range(count):
        key = number + 1
        partition_key = partition_keys[1] if number % 11 == 10 else partition_keys[0]
        ds, state = dataset(number, rng)
        owner = ds["00081195"].get("Value", [None])[0]
        index = index_workitem(ds, state)
        columns = index.columns()
        yield "workitems", (key, partition_key, ds["00080018"]["Value"][0], owner,
                            *(columns[c] for c in WORKITEM_COLUMNS[4:12]), now, now)
        for path, value in index.values.sequence_values:
            yield "workitem_sequence_values", (partition_key, key, path, value)


def seed(database_url: str, count: int) -> float:
    """Migrate and add about ``count`` workitems to Site1 (and a tenth as many to Site2,
    interleaved); return the seconds it took."""
    vacuum = [f"VACUUM ANALYZE {table}" for table in ("workitems", "workitem_sequence_values")]
    with bulk_load(database_url, vacuum) as load:
        started = time.perf_counter()
        partition_keys = [load.add_partition(name) for name in (PARTITION, "Site2")]
        batches: dict[str, list[tuple[Any, ...]]] = {"workitems": [],
                                                     "workitem_sequence_values": []}
        total = count + count // 10  # Site1 gets ``count``, Site2 a tenth as many
        for table, values in generate(total, (partition_keys[0], partition_keys[1]), 11):
            batches[table].append(values)
            if len(batches["workitems"]) >= 20_000:
                _flush(load, batches)
        _flush(load, batches)
        load.set_sequence("workitems", "workitem_key")
    return time.perf_counter() - started


def _flush(load: BulkLoad, batches: dict[str, list[tuple[Any, ...]]]) -> None:
    for table, columns in (("workitems", WORKITEM_COLUMNS),
                           ("workitem_sequence_values", VALUE_COLUMNS)):
        if batches[table]:
            load.insert(table, columns, batches[table])
            batches[table] = []


def _in_site1(i: int, count: int) -> int:
    """The number of a workitem of Site1 (every eleventh is in Site2), spread by ``i``."""
    number = i * 7919 % (count + count // 10)
    return number - 1 if number % 11 == 10 else number


def cases(count: int) -> list[tuple[str, Callable[[int], str]]]:
    """(name, i -> path) for the searches and a retrieve."""
    p = f"/partitions/{PARTITION}/workitems"
    days = max(1, int(count * 14.4 / 60 / 24))

    def day(i: int) -> str:
        return (FIRST_DAY + timedelta(days=(i * 37) % days)).strftime("%Y%m%d")

    return [
        ("worklist: SCHEDULED on one day",
         lambda i: f"{p}?ProcedureStepState=SCHEDULED&ScheduledProcedureStepStartDateTime="
                   f"{day(i)}-{day(i)}235959"),
        ("SCHEDULED, newest 100", lambda i: f"{p}?ProcedureStepState=SCHEDULED"),
        ("SCHEDULED at a station, newest 100",
         lambda i: f"{p}?ProcedureStepState=SCHEDULED"
                   f"&ScheduledStationNameCodeSequence.CodeValue=ST{i % 20:02d}"),
        ("by PatientID, limit 10", lambda i: f"{p}?PatientID=PID-{i * 7 % 500}&limit=10"),
        ("by PatientName (exact), limit 10",
         lambda i: f"{p}?PatientName={quote(last_name(i * 7 % 500))}^Pat{i * 7 % 500 % 7}"
                   "&limit=10"),
        ("by fuzzy PatientName, limit 10",
         lambda i: f"{p}?PatientName={quote(last_name(i * 7 % 500).lower())}"
                   "&fuzzymatching=true&limit=10"),
        ("by AccessionNumber", lambda i: f"{p}?ReferencedRequestSequence.AccessionNumber="
                                         f"ACC{_in_site1(i, count)}"),
        ("by StudyInstanceUID",
         lambda i: f"{p}?StudyInstanceUID={UID_ROOT}.5.{_in_site1(i, count) // 3}"),
        ("retrieve one workitem", lambda i: f"{p}/{UID_ROOT}.{_in_site1(i, count)}"),
    ]


def explain(database_url: str, url: str) -> str:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of the SELECT a search URL
    runs."""
    query = parse_search(parse_qsl(urlsplit(url).query))
    return explain_select(database_url, lambda conn: dao.build_search(
        conn, partition_key(conn, PARTITION), query, summaries=not query.include_all))


def _found(body: bytes) -> int:
    found = json.loads(body)
    return len(found) if isinstance(found, list) else 1


def run(backend: str, count: int, requests: int, show_explain: bool) -> list[Result]:
    with scratch_database(backend, "ups-bench-") as url:
        seconds = seed(url, count)
        print(f"\n### {backend}, {count:,} workitems in {PARTITION} (seeded in {seconds:.0f} s)\n",
              flush=True)
        with running_server(backend, partitions=True, database_url=url) as server:
            results = time_searches(server, cases(count), requests, search_request(_found),
                                    "workitems")
        if show_explain:
            print_plans(cases(count)[:-1], lambda path: explain(url, path))
        return results


def main(argv: list[str]) -> int:
    return latency_main(argv, "UPS-RS worklist search latency at scale", "--workitems",
                        100_000, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

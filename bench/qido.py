"""QIDO-RS latency at scale: seed N instances directly (bench/seed.py), start the server on that
index, time eight searches (p50/p95), and print each search's EXPLAIN ANALYZE (PostgreSQL; EXPLAIN
QUERY PLAN on SQLite).

    python -m bench.qido                                   # PostgreSQL, N = 10,000
    python -m bench.qido --backend postgresql --instances 10000 100000 1000000 --explain
    python -m bench.qido --backend sqlite --instances 100000
    python -m bench.qido --across --instances 1000000 --explain   # search across partitions

Searches run in partition Site1 (of 4) with values sampled from the seeded data, one request at
a time (latency, not throughput). ``--across`` runs them, plus AccessionNumber and
StudyInstanceUID lookups, through ``/partitions/*`` (every partition; issue #20) instead. Each
seeded database is dropped after its run.
"""
from __future__ import annotations

import random
import sys
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, urlsplit

from app.dao import query as query_dao
from app.db import Database
from app.dicomweb.query_params import RESOURCES, parse_query
from app.services.query import PathUids

from .common import (Result, explain_select, latency_main, partition_key, print_plans,
                     running_server, scratch_database, search_request, time_searches)
from .seed import SYLLABLES, seed

PARTITION = "Site1"
SAMPLES = 60


def _samples(database_url: str) -> dict[str, list[Any]]:
    """Values to search for, drawn from partition Site1."""
    database = Database(database_url)
    conn = database.connect()
    try:
        key = partition_key(conn, PARTITION)
        studies = conn.fetchall(
            "SELECT study_key, study_instance_uid, patient_id, patient_name, study_date,"
            " accession_number"
            " FROM studies WHERE partition_key = ? ORDER BY study_key", [key])
        rng = random.Random(7)
        picked = rng.sample(list(studies), min(SAMPLES, len(studies)))
        series = conn.fetchall(
            "SELECT study_instance_uid, series_instance_uid FROM instances"
            " WHERE partition_key = ? AND instance_number = 1 ORDER BY watermark", [key])
        sops = conn.fetchall("SELECT sop_instance_uid FROM instances WHERE partition_key = ?"
                             " AND instance_number = 3", [key])
    finally:
        database.release(conn)
        database.close()
    return {
        "patient_id": [s["patient_id"] for s in picked],
        "date": [s["study_date"] for s in picked],
        "name_prefix": [_three_syllables(s["patient_name"].split("^")[0]) for s in picked],
        "fuzzy": [s["patient_name"].split("^")[1][:3].lower() + " "
                  + s["patient_name"].split("^")[0].lower() for s in picked],
        "study": [s["study_instance_uid"] for s in picked],
        "accession": [s["accession_number"] for s in picked],
        "series": [tuple(r.values()) if isinstance(r, dict) else tuple(r)
                   for r in rng.sample(list(series), min(SAMPLES, len(series)))],
        "sop": [r["sop_instance_uid"] for r in rng.sample(list(sops), min(SAMPLES, len(sops)))],
    }


def _three_syllables(name: str) -> str:
    """The first three syllables of a seeded last name (shared by 24 patients)."""
    rest, prefix = name.lower(), ""
    for _ in range(3):
        syllable = next(s for s in SYLLABLES if rest.startswith(s))
        prefix, rest = prefix + syllable, rest[len(syllable):]
    return prefix.capitalize()


def _date_range(day: str) -> str:
    from datetime import datetime, timedelta
    start = datetime.strptime(day, "%Y%m%d")
    return f"{day}-{(start + timedelta(days=6)):%Y%m%d}"


def cases(samples: dict[str, list[Any]], across: bool = False
          ) -> list[tuple[str, Callable[[int], str]]]:
    """(name, i -> path) for the eight searches (ten across partitions)."""
    p = "/partitions/*" if across else f"/partitions/{PARTITION}"
    pick = lambda name, i: samples[name][i % len(samples[name])]  # noqa: E731
    extra = [
        ("studies by AccessionNumber",
         lambda i: f"{p}/studies?AccessionNumber={quote(pick('accession', i))}"),
        ("studies by StudyInstanceUID",
         lambda i: f"{p}/studies?StudyInstanceUID={pick('study', i)}"),
    ] if across else []
    return extra + [
        ("studies by PatientID", lambda i: f"{p}/studies?PatientID={quote(pick('patient_id', i))}"),
        ("studies by StudyDate range (7 days)",
         lambda i: f"{p}/studies?StudyDate={_date_range(pick('date', i))}"),
        ("studies by PatientName prefix*",
         lambda i: f"{p}/studies?PatientName={quote(pick('name_prefix', i))}*"),
        ("studies by fuzzy PatientName",
         lambda i: f"{p}/studies?fuzzymatching=true&PatientName={quote(pick('fuzzy', i))}"),
        ("series of a study", lambda i: f"{p}/studies/{pick('study', i)}/series"),
        ("instances of a series",
         lambda i: "{}/studies/{}/series/{}/instances".format(p, *pick("series", i))),
        ("/studies?limit=100", lambda i: f"{p}/studies?limit=100"),
        ("instances by SOPInstanceUID", lambda i: f"{p}/instances?SOPInstanceUID={pick('sop', i)}"),
    ]


def _resource(path: str) -> tuple[str, PathUids]:
    parts = path.split("/")[3:]  # drop '', 'partitions', name
    if parts == ["studies"]:
        return "studies", PathUids()
    if parts == ["instances"]:
        return "instances", PathUids()
    if len(parts) == 3:
        return "study_series", PathUids(parts[1])
    return "series_instances", PathUids(parts[1], parts[3])


def explain(database_url: str, url: str) -> str:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of the search SELECT a URL
    runs; ``/partitions/*`` searches every partition."""
    split = urlsplit(url)
    name, path = _resource(split.path)

    def build(conn: Any) -> tuple[str, list[Any]]:
        params = parse_query(parse_qsl(split.query), RESOURCES[name],
                             lambda: query_dao.list_extended_query_tags(conn))
        keys = [r["partition_key"] for r in conn.fetchall(
            "SELECT partition_key, partition_name FROM partitions ORDER BY partition_key")
            if split.path.startswith("/partitions/*/") or r["partition_name"] == PARTITION]
        return query_dao.build_search(conn, keys, params, path)

    return explain_select(database_url, build)


def _datasets(body: bytes) -> int:
    return body.count(b'},{"0') + 1  # no sequences in seeded data


def run(backend: str, instances: int, requests: int, show_explain: bool,
        across: bool = False) -> list[Result]:
    with scratch_database(backend, "qido-bench-") as url:
        seeded = seed(url, instances)
        where = "across partitions (/partitions/*)" if across else f"in {PARTITION}"
        print(f"\n### {backend}, {instances:,} instances ({seeded['counts']['studies']:,} studies"
              f" in 4 partitions, seeded in {seeded['seconds']:.0f} s), searches {where}\n",
              flush=True)
        samples = _samples(url)
        with running_server(backend, partitions=True, database_url=url) as server:
            results = time_searches(server, cases(samples, across), requests,
                                    search_request(_datasets), "datasets")
        if show_explain:
            print_plans(cases(samples, across), lambda path: explain(url, path))
        return results


def main(argv: list[str]) -> int:
    across = "--across" in argv  # the other options are latency_main's
    return latency_main([a for a in argv if a != "--across"], "QIDO-RS latency at scale",
                        "--instances", 10_000,
                        lambda *args: run(*args, across=across))  # type: ignore[misc]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

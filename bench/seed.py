"""Fill an index directly with N synthetic instances (no STOW, no files), for QIDO benchmarks.

    python -m bench.seed --database-url postgresql://postgres@127.0.0.1/bench --instances 100000

Studies have ``series_per_study`` series of ``instances_per_series`` instances and are spread
round-robin over ``partitions`` partitions (Site1, Site2, ...). Values are deterministic
(``--seed``): PatientID ``PID<p>-<n>`` (two studies per patient), names built from syllables
(last names unique per patient, 24 patients per 3-syllable prefix), about three studies per day
and partition from 2000-01-01 on, eight modalities. Rows go in with COPY on PostgreSQL and
executemany on SQLite, in batches; fuzzy-match words go to ``study_name_words`` as the store
path does. Instance metadata JSON is small but real (what QIDO reads for non-index attributes).
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

from app.db import Database
from app.dicomweb.tags import person_name_words
from app.services.instance_index import FOLDED, add_folded_columns

SYLLABLES = ["an", "ber", "cal", "dor", "el", "fin", "gar", "hol", "is", "jan", "kel", "lor",
             "mar", "nor", "ol", "pet", "quin", "ros", "sam", "tor", "ul", "van", "wil", "yor"]
MODALITIES = ["CT", "MR", "US", "CR", "DX", "PT", "NM", "XA"]
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.10.543"
BLOB_KEY = "0" * 64
BATCH = 50_000

STUDY_COLUMNS = ("study_key", "partition_key", "study_instance_uid", "patient_id",
                 "patient_name", "patient_name_words", "referring_physician_name",
                 "referring_physician_name_words", "study_date", "study_time",
                 "study_description", "accession_number", "patient_birth_date", "study_id",
                 "created_date", *(f"{c}_folded" for c, _ in FOLDED["study"]))
SERIES_COLUMNS = ("series_key", "study_key", "partition_key", "series_instance_uid", "modality",
                  "performed_procedure_step_start_date", "manufacturer_model_name",
                  "series_number", "created_date", *(f"{c}_folded" for c, _ in FOLDED["series"]))
INSTANCE_COLUMNS = ("instance_key", "partition_key", "study_key", "series_key",
                    "study_instance_uid", "series_instance_uid", "sop_instance_uid",
                    "sop_class_uid", "instance_number", "watermark", "original_watermark",
                    "status", "transfer_syntax_uid", "number_of_frames", "blob_key", "blob_size",
                    "created_date", "last_status_updated_date")
METADATA_COLUMNS = ("watermark", "partition_key", "dataset")
WORD_COLUMNS = ("partition_key", "study_key", "name_kind", "word")


def _name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def last_name(patient: int) -> str:
    """Four syllables spelling ``patient`` in base 24: unique per patient, and the first three
    syllables are shared by 24 consecutive patients (no syllable prefixes another)."""
    digits = []
    for _ in range(4):
        patient, digit = divmod(patient, len(SYLLABLES))
        digits.append(SYLLABLES[digit])
    return "".join(reversed(digits)).capitalize()


def _metadata(study: dict[str, Any], series: dict[str, Any], sop_uid: str, number: int) -> str:
    def el(vr: str, value: Any) -> dict[str, Any]:
        return {"vr": vr, "Value": [value]}
    return json.dumps({
        "00080005": el("CS", "ISO_IR 100"), "00080016": el("UI", SOP_CLASS),
        "00080018": el("UI", sop_uid), "00080020": el("DA", study["study_date"]),
        "00080030": el("TM", study["study_time"]), "00080050": el("SH",
                                                                  study["accession_number"]),
        "00080060": el("CS", series["modality"]),
        "00100010": el("PN", {"Alphabetic": study["patient_name"]}),
        "00100020": el("LO", study["patient_id"]), "00100040": el("CS", "O"),
        "0020000D": el("UI", study["study_instance_uid"]),
        "0020000E": el("UI", series["series_instance_uid"]), "00200013": el("IS", number),
        "00280010": el("US", 512), "00280011": el("US", 512), "00280100": el("US", 16),
    }, separators=(",", ":"))


def generate(instances: int, partition_keys: list[int], series_per_study: int,
             instances_per_series: int, seed: int, start: dict[str, int]
             ) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Yield (table, row) in insertion order."""
    rng = random.Random(seed)
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    per_study = series_per_study * instances_per_series
    studies = max(1, instances // per_study)
    # constant density (about 3 studies per day and partition), so a date range matches about
    # as many studies at every N: the benchmark then measures the index, not the result size
    days = max(7, studies // len(partition_keys) // 3)
    first_day = date(2000, 1, 1)
    study_key, series_key, instance_key, watermark = (start["study"], start["series"],
                                                      start["instance"], start["watermark"])
    for index in range(studies):
        partition_key = partition_keys[index % len(partition_keys)]
        local = index // len(partition_keys)
        patient_rng = random.Random(f"{seed}-{partition_key}-{local // 2}")
        name = f"{last_name(local // 2)}^{_name(patient_rng, 2)}"
        referring = f"{_name(rng, 2)}^{_name(rng, 2)}"
        study_key += 1
        study = {
            "study_key": study_key, "partition_key": partition_key,
            "study_instance_uid": f"{UID_ROOT}.{study_key}",
            "patient_id": f"PID{partition_key}-{local // 2}", "patient_name": name,
            "patient_name_words": person_name_words(name),
            "referring_physician_name": referring,
            "referring_physician_name_words": person_name_words(referring),
            "study_date": (first_day + timedelta(days=rng.randrange(days))).strftime("%Y%m%d"),
            "study_time": f"{rng.randrange(24):02d}{rng.randrange(60):02d}00",
            "study_description": f"Study {rng.randrange(100)}",
            "accession_number": f"A{study_key}",
            "patient_birth_date": (first_day - timedelta(days=rng.randrange(30000))
                                   ).strftime("%Y%m%d"),
            "study_id": str(local), "created_date": now,
        }
        add_folded_columns(study, {})  # as the store does
        yield "studies", tuple(study[c] for c in STUDY_COLUMNS)
        for kind, column in ((0, "patient_name_words"), (1, "referring_physician_name_words")):
            for word in dict.fromkeys(study[column].split()):
                yield "study_name_words", (partition_key, study_key, kind, word)
        for series_number in range(1, series_per_study + 1):
            series_key += 1
            series = {
                "series_key": series_key, "study_key": study_key,
                "partition_key": partition_key,
                "series_instance_uid": f"{study['study_instance_uid']}.{series_number}",
                "modality": rng.choice(MODALITIES),
                "performed_procedure_step_start_date": study["study_date"],
                "manufacturer_model_name": f"Model {rng.randrange(20)}",
                "series_number": series_number, "created_date": now,
            }
            add_folded_columns({}, series)
            yield "series", tuple(series[c] for c in SERIES_COLUMNS)
            for number in range(1, instances_per_series + 1):
                instance_key += 1
                watermark += 1
                sop_uid = f"{series['series_instance_uid']}.{number}"
                yield "instances", (
                    instance_key, partition_key, study_key, series_key,
                    study["study_instance_uid"], series["series_instance_uid"], sop_uid,
                    SOP_CLASS, number, watermark, watermark, 1, "1.2.840.10008.1.2.1", 1,
                    BLOB_KEY, 0, now, now)
                yield "instance_metadata", (watermark, partition_key,
                                            _metadata(study, series, sop_uid, number))


COLUMNS = {"studies": STUDY_COLUMNS, "series": SERIES_COLUMNS, "instances": INSTANCE_COLUMNS,
           "instance_metadata": METADATA_COLUMNS, "study_name_words": WORD_COLUMNS}
ORDER = ("studies", "series", "instances", "instance_metadata", "study_name_words")


class BulkLoad:
    """One write transaction that fills tables directly, as the seeding benchmarks do (no STOW,
    no service code): COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.raw = conn, conn.raw
        self.pg = conn.dialect == "postgresql"
        self.cur = self.raw.cursor()
        self.now = datetime.now(timezone.utc)

    def add_partition(self, name: str) -> int:
        """Add a partition (unless it exists); return its key."""
        self.cur.execute(self.conn.engine.convert(
            "INSERT INTO partitions (partition_name, created_date) VALUES (?, ?)"
            " ON CONFLICT DO NOTHING"), (name, self.now))
        return int(self.scalar(self.conn.engine.convert(
            "SELECT partition_key FROM partitions WHERE partition_name = ?"), (name,)))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of a query."""
        self.cur.execute(sql, params)
        row = self.cur.fetchone()
        return list(row.values())[0] if self.pg else row[0]

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Add the rows (values in ``columns`` order) to the table."""
        if not self.pg:
            marks = ", ".join("?" for _ in columns)
            self.cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join("\\N" if v is None else str(v).replace("\\", "\\\\")
                                   for v in row))
            buffer.write("\n")
        buffer.seek(0)
        self.cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)

    def set_sequence(self, table: str, column: str) -> None:
        """PostgreSQL: the identity column's sequence continues after the keys inserted (SQLite's
        AUTOINCREMENT follows explicit keys by itself)."""
        if self.pg:
            self.cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                             f" (SELECT MAX({column}) FROM {table}))")


@contextmanager
def bulk_load(database_url: str, analyze: Sequence[str] = ("ANALYZE",)) -> Iterator[BulkLoad]:
    """Migrate the database and yield a BulkLoad in one write transaction; after the block,
    commit and update the planner's statistics: the ``analyze`` statements on PostgreSQL (what
    autovacuum does soon after a load), ANALYZE on SQLite."""
    database = Database(database_url)
    database.migrate()
    conn = database.connect()
    try:
        load = BulkLoad(conn)
        if not load.pg:
            load.raw.execute("BEGIN IMMEDIATE")
        yield load
        if load.pg:
            load.raw.commit()
            load.raw.autocommit = True
            for statement in analyze:
                load.cur.execute(statement)
            load.raw.autocommit = False
        else:
            load.raw.execute("COMMIT")
            load.raw.execute("ANALYZE")
        load.cur.close()
    finally:
        database.release(conn)
        database.close()


def seed(database_url: str, instances: int, partitions: int = 4, series_per_study: int = 2,
         instances_per_series: int = 5, seed_value: int = 5) -> dict[str, Any]:
    """Migrate the database and add the synthetic archive; return what was added."""
    with bulk_load(database_url) as load:
        started = time.perf_counter()
        partition_keys = [load.add_partition(f"Site{number}")
                          for number in range(1, partitions + 1)]
        start = {key: int(load.scalar(sql) or 0) for key, sql in (
            ("study", "SELECT MAX(study_key) FROM studies"),
            ("series", "SELECT MAX(series_key) FROM series"),
            ("instance", "SELECT MAX(instance_key) FROM instances"),
            ("watermark", "SELECT MAX(watermark) FROM instances"))}
        batches: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ORDER}
        counts = {t: 0 for t in ORDER}

        def flush(table: str) -> None:
            rows = batches[table]
            if rows:
                load.insert(table, COLUMNS[table], rows)
                counts[table] += len(rows)
                batches[table] = []

        for table, row in generate(instances, partition_keys, series_per_study,
                                   instances_per_series, seed_value, start):
            batches[table].append(row)
            if len(batches[table]) >= BATCH:
                for name in ORDER:  # parents first (foreign keys)
                    flush(name)
        for name in ORDER:
            flush(name)
        for table, column in (("studies", "study_key"), ("series", "series_key"),
                              ("instances", "instance_key")):
            load.set_sequence(table, column)
        if load.pg:
            load.cur.execute("SELECT setval('watermark_sequence', (SELECT MAX(watermark)"
                             " FROM instances))")
        else:
            load.cur.execute("INSERT INTO watermark_sequence (watermark) SELECT MAX(watermark)"
                             " FROM instances")
    return {"counts": counts, "seconds": time.perf_counter() - started,
            "partitions": [f"Site{n}" for n in range(1, partitions + 1)]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    result = seed(args.database_url, args.instances, args.partitions)
    print(f"seeded {result['counts']} in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The collation backfill at scale (issue #21 item 6): what startup does once on a database
stored before migration 0110.

    flock /work/.bench.lock .venv/bin/python -m bench.collations --instances 1000000

Seeds N instances (bench.seed: 10 per study, 2 series per study), clears every folded column
and marks the backfill pending, as migration 0110 leaves an older database, then times
``app.services.collations.backfill`` and checks that it folded every row.
"""
from __future__ import annotations

import argparse
import sys
import time

from app.db import Database
from app.services import collations

from .common import machine_description, scratch_database
from .seed import seed

_CLEAR = (
    "UPDATE studies SET patient_id_folded = NULL, patient_name_folded = NULL,"
    " referring_physician_name_folded = NULL, study_description_folded = NULL,"
    " accession_number_folded = NULL, study_id_folded = NULL",
    "UPDATE series SET modality_folded = NULL, manufacturer_model_name_folded = NULL",
    "DELETE FROM pending_backfills",
    "INSERT INTO pending_backfills (name) VALUES ('collations')",
)


def run(backend: str, instances: int) -> None:
    with scratch_database(backend, "collations-bench-") as url:
        counts = seed(url, instances)["counts"]
        database = Database(url)
        try:
            with database.connection() as conn, conn.transaction():
                for statement in _CLEAR:
                    conn.execute(statement)
            with database.connection() as conn:
                started = time.perf_counter()
                folded = collations.backfill(conn)
                seconds = time.perf_counter() - started
                left = conn.fetchall("SELECT COUNT(*) AS n FROM studies"
                                     " WHERE patient_id_folded IS NULL")[0]["n"]
        finally:
            database.close()
        assert folded == counts["studies"] + counts["series"] and left == 0, (folded, left)
        print(f"| {backend} | {instances:,} | {counts['studies']:,} | {counts['series']:,} |"
              f" {folded:,} | {seconds:.1f} | {folded / seconds:,.0f} |", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Collation backfill at scale")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--instances", type=int, nargs="+", default=[100_000])
    args = parser.parse_args(argv)
    print(machine_description())
    print("\n| database | instances | studies | series | rows folded | seconds | rows/s |\n"
          "|---|---|---|---|---|---|---|")
    for count in args.instances:
        run(args.backend, count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The suite's PostgreSQL reset between tests (tests/sql_reset_postgresql.sql: DELETE of the
tables with rows, sequences set back) leaves a database written through the API in the same
state as emptying every table with TRUNCATE ... RESTART IDENTITY does (what the reset did
before it was made cheaper): the same rows in every table, every sequence at the same point."""
from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from tests.api.helpers import store
from tests.api.workitem_support import create, workitem
from tests.dicom_factory import make_dataset

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

RESET = Path(__file__).resolve().parents[1] / "sql_reset_postgresql.sql"
#: What the reset used to run: every table of the list emptied, its sequences restarted.
TRUNCATE_ALL = """
TRUNCATE partitions, studies, series, instances, instance_metadata, blobs, change_feed,
    extended_query_tags, extended_query_tag_string, extended_query_tag_long,
    extended_query_tag_double, extended_query_tag_datetime, extended_query_tag_person_name,
    extended_query_tag_errors, operations, study_name_words, workitems,
    workitem_sequence_values, store_identity, partition_statistics RESTART IDENTITY CASCADE;
ALTER SEQUENCE watermark_sequence RESTART WITH 1;
INSERT INTO partitions (partition_key, partition_name, created_date)
VALUES (1, 'Microsoft.Default', now());
ALTER TABLE partitions ALTER COLUMN partition_key RESTART WITH 2;
UPDATE blob_sweep_schedule SET last_started = NULL;
"""


def _run(url: str, sql: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _state(url: str) -> dict[str, object]:
    """Every table's rows (the default partition without its creation time) and every
    sequence's (last_value, is_called)."""
    state: dict[str, object] = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT (to_jsonb(t) - \'created_date\')::text FROM "{table}" AS t')
            state[table] = sorted(row[0] for row in cur.fetchall())
        cur.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        for (sequence,) in cur.fetchall():
            cur.execute(f'SELECT last_value, is_called FROM "{sequence}"')
            state[sequence] = cur.fetchone()
    conn.close()
    return state


def _write_everywhere(make_app, database_url: str) -> None:
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    tags = [{"path": "PerformingPhysicianName", "level": "Study"},
            {"path": "AcquisitionNumber", "level": "Instance"}]
    assert client.post("/extendedquerytags", json=tags).status_code == 202
    for base in ("/partitions/Microsoft.Default", "/partitions/SiteB"):
        dataset = make_dataset(PatientName="Doe^Jane", PerformingPhysicianName="House^G",
                               AcquisitionNumber=3)
        assert store(client, base, dataset).status_code == 200
        assert create(client, base, workitem()).status_code == 201
    _run(database_url, "UPDATE partitions SET max_bytes = 5 WHERE partition_key = 1;"
                       "UPDATE blob_sweep_schedule SET last_started = now();"
                       "SELECT nextval(sequencename::regclass) FROM pg_sequences"
                       " WHERE schemaname = current_schema();")


def test_the_reset_leaves_what_truncate_leaves(make_app, database_url):
    fresh = _state(database_url)
    _write_everywhere(make_app, database_url)
    written = _state(database_url)
    changed = {name for name in fresh if written[name] != fresh[name]}
    assert {"studies", "series", "instances", "instance_metadata", "blobs", "change_feed",
            "partitions", "workitems", "extended_query_tags", "store_identity",
            "partition_statistics", "watermark_sequence"} <= changed

    _run(database_url, RESET.read_text())
    after_reset = _state(database_url)
    _run(database_url, TRUNCATE_ALL)
    assert after_reset == _state(database_url)
    _run(database_url, RESET.read_text())  # on a clean database: nothing changes
    assert _state(database_url) == after_reset

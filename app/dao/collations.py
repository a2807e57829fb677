"""The collation backfill's rows: the next batch of rows without folded columns, their updates
and the marker migration 0111 leaves (sql: common/ and <dialect>/collations.sql)."""
from __future__ import annotations

import json
from typing import Any

from ..db import DbConn

#: pending_backfills.name of the collation backfill.
BACKFILL = "collations"
#: The extended query tag value tables with tag_value_folded, by value table.
VALUE_TABLES = ("string", "person_name")
#: An extended query tag value row's primary key, in order.
VALUE_KEY = ("tag_key", "partition_key", "study_key", "series_key", "instance_key")


def is_pending(conn: DbConn) -> bool:
    return conn.run("get_pending_backfill", backfill_name=BACKFILL) is not None


def finish(conn: DbConn) -> None:
    conn.run("delete_pending_backfill", backfill_name=BACKFILL)


def list_studies(conn: DbConn, after_key: int, batch_size: int) -> list[dict[str, Any]]:
    """The next studies after this key whose folded columns are missing (PostgreSQL: locked
    until the end of the transaction)."""
    return [dict(r) for r in conn.run("list_studies_to_fold", after_key=after_key,
                                      batch_size=batch_size)]


def list_series(conn: DbConn, after_key: int, batch_size: int) -> list[dict[str, Any]]:
    """The next series after this key whose folded columns are missing (locked as studies)."""
    return [dict(r) for r in conn.run("list_series_to_fold", after_key=after_key,
                                      batch_size=batch_size)]


def list_values(conn: DbConn, table: str, after: tuple[int, ...],
                batch_size: int) -> list[dict[str, Any]]:
    """The next value rows of ``table`` (``VALUE_TABLES``) after this primary key without
    their folded value (locked as studies)."""
    keys = dict(zip(VALUE_KEY, after))
    if table == "string":
        rows = conn.run("list_string_values_to_fold", batch_size=batch_size, **keys)
    else:
        rows = conn.run("list_person_name_values_to_fold", batch_size=batch_size, **keys)
    return [dict(r) for r in rows]


def set_studies(conn: DbConn, rows: list[dict[str, Any]]) -> None:
    """Set the folded columns of studies: each row has ``study_key`` and them; one statement."""
    if rows:
        conn.run("set_studies_folded", rows=json.dumps(rows))


def set_series(conn: DbConn, rows: list[dict[str, Any]]) -> None:
    """Set the folded columns of series (rows as ``set_studies``, keyed by ``series_key``)."""
    if rows:
        conn.run("set_series_folded", rows=json.dumps(rows))


def set_values(conn: DbConn, table: str, rows: list[dict[str, Any]]) -> None:
    """Set ``tag_value_folded`` of value rows (each: ``VALUE_KEY`` and it); one statement."""
    if not rows:
        return
    if table == "string":
        conn.run("set_string_values_folded", rows=json.dumps(rows))
    else:
        conn.run("set_person_name_values_folded", rows=json.dumps(rows))

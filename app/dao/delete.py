"""Rows touched by a DELETE: set-based statements over the instances marked "deleting"."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import DbConn

#: Status of instances marked for deletion inside the delete transaction (never committed).
STATUS_DELETING = 2


@dataclass(frozen=True, slots=True)
class DeletedRows:
    """What removing the marked instances did."""

    instances: int
    released_blob_keys: list[str]
    study_removed: bool


@dataclass(frozen=True, slots=True)
class RemainingInstance:
    """A visible instance left in a study, with its DICOM JSON."""

    watermark: int
    series_key: int
    dataset: str


def lock_study(conn: DbConn, partition_key: int, study_instance_uid: str) -> int | None:
    """The study's key, row-locked until commit on PostgreSQL; None when it does not exist."""
    row = conn.run("lock_study_for_delete", partition_key=partition_key,
                   study_instance_uid=study_instance_uid)
    return None if row is None else int(row["study_key"])


def get_series_key(conn: DbConn, partition_key: int, study_key: int,
                   series_instance_uid: str) -> int | None:
    row = conn.run("get_series_key", partition_key=partition_key, study_key=study_key,
                   series_instance_uid=series_instance_uid)
    return None if row is None else int(row["series_key"])


def mark_study(conn: DbConn, partition_key: int, study_key: int) -> int:
    """Mark every instance of the study; return how many."""
    return int(conn.run("mark_study_instances_deleting", partition_key=partition_key,
                        study_key=study_key))


def mark_series(conn: DbConn, partition_key: int, series_key: int) -> int:
    """Mark every instance of the series; return how many."""
    return int(conn.run("mark_series_instances_deleting", partition_key=partition_key,
                        series_key=series_key))


def mark_instance(conn: DbConn, partition_key: int, study_instance_uid: str,
                  series_instance_uid: str, sop_instance_uid: str) -> int:
    """Mark one instance; return 1, or 0 when it does not exist."""
    return int(conn.run("mark_instance_deleting", partition_key=partition_key,
                        study_instance_uid=study_instance_uid,
                        series_instance_uid=series_instance_uid,
                        sop_instance_uid=sop_instance_uid))


def delete_marked(conn: DbConn, partition_key: int, study_key: int, count: int,
                  now: datetime) -> DeletedRows:
    """Remove the marked instances of a study and everything hanging off them, set-based:
    change-feed entries (a Delete entry each, earlier entries "Deleted"), extended query tag
    errors and values, metadata, file references, then empty series and the empty study.

    Returns the keys of files no row references any more (their rows stay, released, until
    the caller removes each file after the commit). Call inside a write transaction that holds
    the study lock.
    """
    conn.run("add_delete_change_feed_entries", timestamp=now, study_key=study_key)
    conn.run("mark_change_feed_deleted", study_key=study_key)
    for row in conn.run("count_extended_query_tag_errors_released", study_key=study_key):
        conn.run("release_extended_query_tag_errors", tag_key=row["tag_key"],
                 count=int(row["error_count"]))
    conn.run("delete_extended_query_tag_errors", partition_key=partition_key, study_key=study_key)
    conn.run("delete_instance_metadata", study_key=study_key)
    conn.run("lock_blobs_for_delete", study_key=study_key)
    conn.run("release_blob_references", study_key=study_key)
    released = [row["blob_key"] for row in conn.run("list_unreferenced_blobs",
                                                     study_key=study_key)]
    conn.run("delete_marked_instances", study_key=study_key)
    conn.run("delete_empty_series", study_key=study_key)
    study_removed = conn.run("delete_empty_study", study_key=study_key) is not None
    # The values of every extended query tag value table.
    keys = {"partition_key": partition_key, "study_key": study_key}
    conn.run("delete_orphan_extended_query_tag_string", **keys)
    conn.run("delete_orphan_extended_query_tag_long", **keys)
    conn.run("delete_orphan_extended_query_tag_double", **keys)
    conn.run("delete_orphan_extended_query_tag_datetime", **keys)
    conn.run("delete_orphan_extended_query_tag_person_name", **keys)
    return DeletedRows(count, released, study_removed)


def list_remaining_instances(conn: DbConn, study_key: int, before_watermark: int,
                             limit: int) -> list[RemainingInstance]:
    """A page of the study's visible instances below a watermark, newest first."""
    rows = conn.run("list_remaining_instance_metadata", study_key=study_key,
                    before_watermark=before_watermark, limit=limit)
    return [RemainingInstance(int(r["watermark"]), int(r["series_key"]), r["dataset"])
            for r in rows]


def get_study_columns(conn: DbConn, study_key: int) -> dict[str, Any]:
    return dict(conn.run("get_study_columns", study_key=study_key))


def get_series_columns(conn: DbConn, series_key: int) -> dict[str, Any]:
    return dict(conn.run("get_series_columns", series_key=series_key))


def update_study_columns(conn: DbConn, study_key: int, columns: dict[str, Any]) -> None:
    conn.run("update_study_columns", study_key=study_key, **columns)


def update_series_columns(conn: DbConn, series_key: int, columns: dict[str, Any]) -> None:
    conn.run("update_series_columns", series_key=series_key, **columns)

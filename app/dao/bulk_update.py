"""Rows a bulk update reads and rewrites (sql: common/bulk_update.sql; reference-2.md §2)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import DbConn
from .instances import ACTION_UPDATE


@dataclass(frozen=True, slots=True)
class InstanceVersion:
    """A visible instance of a study and its current version."""

    instance_key: int
    study_key: int
    series_key: int
    series_instance_uid: str
    sop_instance_uid: str
    watermark: int
    original_watermark: int
    blob_key: str
    blob_size: int
    original_blob_key: str | None

    @property
    def updated_before(self) -> bool:
        """Whether the current version is already an update (then it is replaced, not kept)."""
        return self.original_blob_key is not None


def _version(row: Any) -> InstanceVersion:
    return InstanceVersion(int(row["instance_key"]), int(row["study_key"]),
                           int(row["series_key"]), row["series_instance_uid"],
                           row["sop_instance_uid"], int(row["watermark"]),
                           int(row["original_watermark"]), row["blob_key"],
                           int(row["blob_size"]), row["original_blob_key"])


def list_instances(conn: DbConn, partition_key: int,
                   study_instance_uid: str) -> list[InstanceVersion]:
    """The study's visible instances, in store order."""
    return [_version(row) for row in conn.run("list_instances_to_update",
                                              partition_key=partition_key,
                                              study_instance_uid=study_instance_uid)]


def lock_study(conn: DbConn, partition_key: int, study_instance_uid: str) -> int | None:
    """The study's key, locked until commit (PostgreSQL); None when it does not exist."""
    row = conn.run("lock_study_for_update", partition_key=partition_key,
                   study_instance_uid=study_instance_uid)
    return None if row is None else int(row["study_key"])


def get_metadata(conn: DbConn, watermark: int) -> str | None:
    row = conn.run("get_version_metadata", watermark=watermark)
    return None if row is None else row["dataset"]


def replace_version(conn: DbConn, partition_key: int, study_instance_uid: str,
                    instance: InstanceVersion, watermark: int, blob_key: str, blob_size: int,
                    dataset: str, now: datetime) -> list[str]:
    """Make ``watermark`` the instance's current version (file, metadata, change feed, extended
    query tag errors), inside the study's write transaction. An earlier update's version is
    dropped (only the original and the newest are kept). Returns the keys of files no row
    references any more (removed after the commit). Raises LookupError when the instance
    changed since it was read."""
    released = []
    if instance.updated_before:
        conn.run("delete_version_metadata", watermark=instance.watermark)
        row = conn.run("release_blob_reference", blob_key=instance.blob_key)
        if row is not None and int(row["ref_count"]) <= 0:
            released.append(instance.blob_key)
    changed = conn.run("update_instance_version", instance_key=instance.instance_key,
                       old_watermark=instance.watermark, watermark=watermark,
                       blob_key=blob_key, blob_size=blob_size, now=now)
    if not changed:
        raise LookupError(f"instance {instance.sop_instance_uid} changed during the update")
    conn.run("add_instance_metadata", watermark=watermark, partition_key=partition_key,
             dataset=dataset)
    conn.run("add_blob_reference", blob_key=blob_key, size=blob_size, created_date=now)
    conn.run("move_extended_query_tag_errors", old_watermark=instance.watermark,
             watermark=watermark)
    conn.run("add_change_feed_entry", timestamp=now, action=ACTION_UPDATE,
             partition_key=partition_key, study_instance_uid=study_instance_uid,
             series_instance_uid=instance.series_instance_uid,
             sop_instance_uid=instance.sop_instance_uid, original_watermark=watermark,
             current_watermark=watermark)
    # Earlier entries of the instance now read "Replaced" (reference-2.md §2.5).
    conn.run("replace_change_feed_watermark", partition_key=partition_key,
             study_instance_uid=study_instance_uid,
             series_instance_uid=instance.series_instance_uid,
             sop_instance_uid=instance.sop_instance_uid, watermark=watermark)
    return released


def update_study(conn: DbConn, study_key: int, columns: dict[str, Any]) -> None:
    """Set the study columns the change holds (None: unchanged)."""
    conn.run("update_study_for_bulk_update", study_key=study_key, **columns)

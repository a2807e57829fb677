"""Partition rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..db import DbConn, as_datetime
from ..models import Partition


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _to_partition(row: Any) -> Partition:
    return Partition(int(row["partition_key"]), row["partition_name"],
                     as_datetime(row["created_date"]), _optional_int(row["max_instances"]),
                     _optional_int(row["max_bytes"]), int(row["status"]))


def get_partition(conn: DbConn, partition_name: str, for_update: bool = False
                  ) -> Partition | None:
    """The partition with this name (case-insensitive), or None. ``for_update`` (inside a
    write transaction): its row locked until commit against other changes of it."""
    if for_update:
        row = conn.run("get_partition_for_update", partition_name=partition_name)
    else:
        row = conn.run("get_partition", partition_name=partition_name)
    return _to_partition(row) if row else None


def get_partition_by_key(conn: DbConn, partition_key: int) -> Partition | None:
    row = conn.run("get_partition_by_key", partition_key=partition_key)
    return _to_partition(row) if row else None


def list_partitions(conn: DbConn) -> list[Partition]:
    """Every partition, ordered by key."""
    return [_to_partition(row) for row in conn.run("list_partitions")]


def count_partitions(conn: DbConn) -> int:
    return int(conn.run("count_partitions")["partition_count"])


def add_partition_if_missing(conn: DbConn, partition_name: str) -> None:
    """Insert the partition unless it exists; the unique index makes this race-safe."""
    conn.run("add_partition", partition_name=partition_name,
             created_date=datetime.now(timezone.utc))


@dataclass(frozen=True, slots=True)
class PartitionStatistics:
    """What a partition holds (kept by the database as its rows change)."""

    studies: int = 0
    series: int = 0
    instances: int = 0
    stored_bytes: int = 0
    disk_bytes: int = 0
    last_stored_date: datetime | None = None


def _to_statistics(row: Any) -> PartitionStatistics:
    return PartitionStatistics(int(row["studies"]), int(row["series"]), int(row["instances"]),
                               int(row["stored_bytes"]), int(row["disk_bytes"]),
                               as_datetime(row["last_stored_date"]))


def get_statistics(conn: DbConn, partition_key: int) -> PartitionStatistics:
    """The partition's statistics (zeros when it never held anything)."""
    return _to_statistics(conn.run("get_partition_statistics", partition_key=partition_key))


def list_statistics(conn: DbConn) -> dict[int, PartitionStatistics]:
    """The statistics of every partition that has any, by partition key."""
    return {int(row["partition_key"]): _to_statistics(row)
            for row in conn.run("list_partition_statistics")}


def rename_partition(conn: DbConn, partition_key: int, partition_name: str) -> None:
    """Rename; raises the engine's integrity error when another partition has the name."""
    conn.run("rename_partition", partition_key=partition_key, partition_name=partition_name)


def set_quota(conn: DbConn, partition_key: int, max_instances: int | None,
              max_bytes: int | None) -> None:
    conn.run("set_partition_quota", partition_key=partition_key, max_instances=max_instances,
             max_bytes=max_bytes)


@dataclass(frozen=True, slots=True)
class PartitionUsage:
    """A partition's quota and what counts against it."""

    max_instances: int | None
    max_bytes: int | None
    instances: int
    stored_bytes: int


def get_usage(conn: DbConn, partition_key: int, lock: bool = False) -> PartitionUsage | None:
    """The partition's quota and usage; None when it no longer exists. ``lock`` (inside a
    write transaction): first wait for the stores into it that hold the quota lock, and hold
    it until commit, so the usage read includes theirs."""
    if lock:
        conn.run("lock_partition_quota", partition_key=partition_key)
    row = conn.run("get_partition_usage", partition_key=partition_key)
    if row is None:
        return None
    return PartitionUsage(_optional_int(row["max_instances"]), _optional_int(row["max_bytes"]),
                          int(row["instances"]), int(row["stored_bytes"]))


@dataclass(frozen=True, slots=True)
class StoreCheck:
    """What a store transaction checks about its partition (``lock_for_store``)."""

    status: int
    max_instances: int | None
    max_bytes: int | None


#: DbConn.transaction_cache key: (partition key, StoreCheck or None) as the store
#: transaction's first statement read and locked it (``instances.get_instance_status`` with
#: ``lock_tags``), so ``lock_for_store`` needs no round trip of its own.
STORE_CHECKED = "partitions.store_checked"


def note_store_check(conn: DbConn, partition_key: int, row: Any) -> None:
    """Record the check of a row with ``partition_status``, ``max_instances`` and
    ``max_bytes`` read under the key-share lock of ``lock_partition_for_store``."""
    check = None if row["partition_status"] is None else StoreCheck(
        int(row["partition_status"]), _optional_int(row["max_instances"]),
        _optional_int(row["max_bytes"]))
    conn.transaction_cache[STORE_CHECKED] = (partition_key, check)


def from_store_check(row: Any) -> Partition:
    """The partition of a row of the store's first statement found by name
    (``get_instance_status_by_partition_name``: its status is ``partition_status``)."""
    return Partition(int(row["partition_key"]), row["partition_name"],
                     as_datetime(row["created_date"]), _optional_int(row["max_instances"]),
                     _optional_int(row["max_bytes"]), int(row["partition_status"]))


def lock_for_store(conn: DbConn, partition_key: int) -> StoreCheck | None:
    """The partition's status and quota, key-share locked until commit on PostgreSQL (a
    partition deletion's last step waits for this transaction); None when it is gone. Read
    by the transaction's first statement already (``note_store_check``), it is not read
    again."""
    checked = conn.transaction_cache.get(STORE_CHECKED)
    if checked is not None and checked[0] == partition_key:
        return checked[1]
    row = conn.run("lock_partition_for_store", partition_key=partition_key)
    return None if row is None else StoreCheck(int(row["status"]),
                                               _optional_int(row["max_instances"]),
                                               _optional_int(row["max_bytes"]))


def mark_deleting(conn: DbConn, partition_key: int) -> bool:
    """Start deleting an active partition; False when it is not active."""
    return conn.run("mark_partition_deleting", partition_key=partition_key) > 0


def reopen(conn: DbConn, partition_key: int) -> None:
    conn.run("reopen_partition", partition_key=partition_key)


def list_study_uids(conn: DbConn, partition_key: int, limit: int) -> list[str]:
    return [row["study_instance_uid"] for row in conn.run(
        "list_partition_study_uids", partition_key=partition_key, limit=limit)]


def has_studies(conn: DbConn, partition_key: int) -> bool:
    return int(conn.run("count_partition_studies",
                        partition_key=partition_key)["study_count"]) > 0


def lock_for_removal(conn: DbConn, partition_key: int) -> None:
    """Lock the partition row until commit (PostgreSQL): waits for the stores that passed
    ``lock_for_store``; later ones wait for this transaction."""
    conn.run("lock_partition_for_removal", partition_key=partition_key)


def remove_partition(conn: DbConn, partition_key: int) -> None:
    """Remove what is left of an emptied partition (workitems, name words, extended query tag
    values, statistics) and leave its row as a deleted tombstone."""
    keys = {"partition_key": partition_key}
    conn.run("delete_partition_workitems", **keys)
    conn.run("delete_partition_study_name_words", **keys)
    conn.run("delete_partition_extended_query_tag_string", **keys)
    conn.run("delete_partition_extended_query_tag_long", **keys)
    conn.run("delete_partition_extended_query_tag_double", **keys)
    conn.run("delete_partition_extended_query_tag_datetime", **keys)
    conn.run("delete_partition_extended_query_tag_person_name", **keys)
    conn.run("delete_partition_statistics", **keys)
    conn.run("tombstone_partition", **keys)

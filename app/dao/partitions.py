"""Partition rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..db import DbConn, as_datetime
from ..models import Partition


def _to_partition(row: Any) -> Partition:
    return Partition(int(row["partition_key"]), row["partition_name"],
                     as_datetime(row["created_date"]))


def get_partition(conn: DbConn, partition_name: str) -> Partition | None:
    """The partition with this name (case-insensitive), or None."""
    row = conn.run("get_partition", partition_name=partition_name)
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

"""Partition rows."""
from __future__ import annotations

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

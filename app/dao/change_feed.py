"""Change-feed rows: reads of the global and per-partition feed (sql: common/change_feed.sql)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..db import DbConn, as_datetime

ACTION_NAMES = {0: "Create", 1: "Delete", 2: "Update"}


@dataclass(frozen=True, slots=True)
class ChangeFeedEntry:
    """One change-feed row with its partition name and, if requested, the current metadata.

    ``metadata`` is the stored DICOM JSON text (``bulkdata:`` placeholders unresolved).
    """

    sequence: int
    timestamp: datetime
    action: int
    partition_name: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    original_watermark: int
    current_watermark: int | None
    metadata: Any = None

    @property
    def action_name(self) -> str:
        return ACTION_NAMES.get(self.action, str(self.action))

    @property
    def state(self) -> str:
        """reference.md §7: no current version -> Deleted; a newer version -> Replaced."""
        if self.current_watermark is None:
            return "Deleted"
        if self.current_watermark != self.original_watermark:
            return "Replaced"
        return "Current"


def _to_entry(row: Any) -> ChangeFeedEntry:
    timestamp = as_datetime(row["timestamp"])
    assert timestamp is not None
    current = row["current_watermark"]
    return ChangeFeedEntry(
        int(row["sequence"]), timestamp.astimezone(timezone.utc), int(row["action"]),
        row["partition_name"], row["study_instance_uid"], row["series_instance_uid"],
        row["sop_instance_uid"], int(row["original_watermark"]),
        None if current is None else int(current),
        row["dataset"] if current is not None else None)


def list_by_sequence(conn: DbConn, start_sequence: int, end_sequence: int,
                     include_metadata: bool) -> list[ChangeFeedEntry]:
    """Entries with start_sequence < sequence <= end_sequence (v1)."""
    rows = conn.run("list_change_feed", start_sequence=start_sequence,
                    end_sequence=end_sequence, include_metadata=int(include_metadata))
    return [_to_entry(r) for r in rows]


def list_by_sequence_in_partition(conn: DbConn, partition_key: int, start_sequence: int,
                                  limit: int, include_metadata: bool) -> list[ChangeFeedEntry]:
    """The partition's first ``limit`` entries after start_sequence (v1, partition route)."""
    rows = conn.run("list_change_feed_in_partition", partition_key=partition_key,
                    start_sequence=start_sequence, limit=limit,
                    include_metadata=int(include_metadata))
    return [_to_entry(r) for r in rows]


def list_by_time(conn: DbConn, partition_key: int | None, start_time: datetime,
                 end_time: datetime, offset: int, limit: int,
                 include_metadata: bool) -> list[ChangeFeedEntry]:
    """Entries with start_time <= timestamp < end_time by (timestamp, sequence), paged (v2)."""
    params = dict(start_time=start_time, end_time=end_time, offset=offset, limit=limit,
                  include_metadata=int(include_metadata))
    if partition_key is None:
        rows = conn.run("list_change_feed_by_time", **params)
    else:
        rows = conn.run("list_change_feed_by_time_in_partition", partition_key=partition_key,
                        **params)
    return [_to_entry(r) for r in rows]


def get_latest(conn: DbConn, partition_key: int | None, by_time: bool,
               include_metadata: bool) -> ChangeFeedEntry | None:
    """The latest entry by sequence (v1) or by (timestamp, sequence) (v2), or None."""
    metadata = int(include_metadata)
    if partition_key is None:
        row = (conn.run("get_change_feed_latest_by_time", include_metadata=metadata) if by_time
               else conn.run("get_change_feed_latest", include_metadata=metadata))
    elif by_time:
        row = conn.run("get_change_feed_latest_by_time_in_partition",
                       partition_key=partition_key, include_metadata=metadata)
    else:
        row = conn.run("get_change_feed_latest_in_partition", partition_key=partition_key,
                       include_metadata=metadata)
    return None if row is None else _to_entry(row)

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


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a read may show (``get_change_feed_bounds``): entries with sequence <= ``sequence``
    and timestamp < ``time``; None: no bound. Read before the entries, in a statement of its
    own."""

    sequence: int | None
    time: datetime | None


def get_bounds(conn: DbConn) -> Bounds:
    row = conn.run("get_change_feed_bounds")
    sequence, time = row["sequence_bound"], as_datetime(row["time_bound"])
    return Bounds(None if sequence is None else int(sequence),
                  None if time is None else time.astimezone(timezone.utc))


def list_by_sequence(conn: DbConn, start_sequence: int, end_sequence: int,
                     include_metadata: bool) -> list[ChangeFeedEntry]:
    """Entries with start_sequence < sequence <= end_sequence (v1)."""
    rows = conn.run("list_change_feed", start_sequence=start_sequence,
                    end_sequence=end_sequence, include_metadata=int(include_metadata))
    return [_to_entry(r) for r in rows]


def list_by_sequence_in_partition(conn: DbConn, partition_key: int, start_sequence: int,
                                  end_sequence: int, limit: int,
                                  include_metadata: bool) -> list[ChangeFeedEntry]:
    """The partition's first ``limit`` entries after start_sequence, up to end_sequence (v1,
    partition route)."""
    rows = conn.run("list_change_feed_in_partition", partition_key=partition_key,
                    start_sequence=start_sequence, end_sequence=end_sequence, limit=limit,
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


def get_latest(conn: DbConn, partition_key: int | None, end_sequence: int | None,
               end_time: datetime | None, include_metadata: bool) -> ChangeFeedEntry | None:
    """The latest entry up to end_sequence by sequence (v1), or before end_time by (timestamp,
    sequence) (v2, when ``end_time`` is given), or None."""
    metadata = int(include_metadata)
    if end_time is not None:
        row = (conn.run("get_change_feed_latest_by_time", end_time=end_time,
                        include_metadata=metadata) if partition_key is None
               else conn.run("get_change_feed_latest_by_time_in_partition",
                             partition_key=partition_key, end_time=end_time,
                             include_metadata=metadata))
    elif partition_key is None:
        row = conn.run("get_change_feed_latest", end_sequence=end_sequence,
                       include_metadata=metadata)
    else:
        row = conn.run("get_change_feed_latest_in_partition", partition_key=partition_key,
                       end_sequence=end_sequence, include_metadata=metadata)
    return None if row is None else _to_entry(row)

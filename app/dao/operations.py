"""Long-running operation rows (reference.md §9): the job table the worker polls."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..db import DbConn, as_datetime

NOT_STARTED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "notStarted", "running", "succeeded", "failed", "canceled")
ACTIVE = (NOT_STARTED, RUNNING)
REINDEX = "reindex"
EXPORT = "export"
UPDATE = "update"
DELETE_PARTITION = "deletePartition"


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation; ``resources`` are paths relative to the base URL, ``payload`` is private
    state of the operation type (e.g. re-index progress)."""

    operation_id: str
    operation_type: str
    status: str
    created_time: datetime | None
    last_updated_time: datetime | None
    percent_complete: int
    resources: list[str]
    results: Any
    payload: dict[str, Any]
    owner: str | None


def _to_operation(row: Any) -> Operation:
    return Operation(row["operation_id"], row["operation_type"], row["status"],
                     as_datetime(row["created_time"]), as_datetime(row["last_updated_time"]),
                     int(row["percent_complete"]), json.loads(row["resources"] or "[]"),
                     json.loads(row["results"]) if row["results"] else None,
                     json.loads(row["payload"]) if row["payload"] else {}, row["owner"])


def add_operation(conn: DbConn, operation_id: str, operation_type: str, resources: list[str],
                  payload: dict[str, Any], now: datetime) -> None:
    conn.run("add_operation", operation_id=operation_id, operation_type=operation_type,
             status=NOT_STARTED, created_time=now, resources=json.dumps(resources),
             payload=json.dumps(payload))


def get_operation(conn: DbConn, operation_id: str) -> Operation | None:
    row = conn.run("get_operation", operation_id=operation_id)
    return _to_operation(row) if row else None


def find_active_operation(conn: DbConn, operation_type: str) -> Operation | None:
    row = conn.run("find_active_operation", operation_type=operation_type)
    return _to_operation(row) if row else None


def claim_next_operation(conn: DbConn, owner: str, now: datetime,
                         lease_seconds: float) -> Operation | None:
    """Claim the oldest unclaimed (or abandoned: no heartbeat for ``lease_seconds``) operation
    for ``owner``, or None. PostgreSQL judges leases by its own clock (``lease_seconds``),
    SQLite by this process's (``stale_before``)."""
    with conn.transaction(write=True):
        row = conn.run("find_claimable_operation",
                       stale_before=now - timedelta(seconds=lease_seconds),
                       lease_seconds=lease_seconds)
        if row is None:
            return None
        conn.run("claim_operation", operation_id=row["operation_id"], owner=owner, now=now)
    return get_operation(conn, row["operation_id"])


def update_progress(conn: DbConn, operation_id: str, owner: str, percent_complete: int,
                    payload: dict[str, Any], now: datetime) -> bool:
    """Record progress and renew the lease; False when this worker no longer owns it."""
    return conn.run("update_operation_progress", operation_id=operation_id, owner=owner,
                    percent_complete=percent_complete, payload=json.dumps(payload),
                    now=now) > 0


def complete_operation(conn: DbConn, operation_id: str, owner: str, status: str,
                       percent_complete: int, results: Any, now: datetime) -> bool:
    return conn.run("complete_operation", operation_id=operation_id, owner=owner, status=status,
                    percent_complete=percent_complete,
                    results=json.dumps(results) if results is not None else None, now=now) > 0


def release_operation(conn: DbConn, operation_id: str, owner: str, payload: dict[str, Any],
                      now: datetime) -> bool:
    """Give the operation back so that any worker may claim it at once."""
    return conn.run("release_operation", operation_id=operation_id, owner=owner,
                    payload=json.dumps(payload), now=now) > 0


@dataclass(frozen=True, slots=True)
class OperationCount:
    operation_type: str
    status: str
    count: int


def count_operations(conn: DbConn) -> list[OperationCount]:
    """How many operations there are of each type and status."""
    return [OperationCount(row["operation_type"], row["status"], int(row["operation_count"]))
            for row in conn.run("count_operations")]

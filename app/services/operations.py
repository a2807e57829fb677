"""Long-running operations (reference.md §9): status lookup, and running the next queued one.

Operations live in the ``operations`` table. A worker claims one (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock on SQLite), sets itself as owner and renews a heartbeat after every
batch. An operation whose heartbeat is older than the lease (its process died) is claimed
again by any worker and resumes from its last committed batch.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .. import metrics
from ..dao import operations as dao
from ..db import DbConn
from ..errors import DataStoreError, OperationNotFoundError
from . import bulk_update_run, export, extended_query_tag_reindex, partition_deletion
from .export_destinations import ExportSettings
from .operation_runs import LeaseLostError, OperationInterrupted, Runner

logger = logging.getLogger(__name__)

#: Unexpected failures of one operation before it is marked failed.
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What running operations needs from the configuration."""

    lease_seconds: float = 60.0
    reindex_batch_size: int = 1000
    blobs: Any = None  # the blob store (a BlobStore), for operations that read files
    export: ExportSettings = ExportSettings()
    export_batch_size: int = 100


# The reference's ``{operationId:guid}`` (.NET Guid.TryParse): 32 digits, or the dashed form,
# bare or in braces or parentheses, around white space.
_GUID = re.compile(r"\s*(?:(?P<n>[0-9a-fA-F]{32})|(?P<open>[{(]?)"
                   r"(?P<d>[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?P<close>[})]?))\s*")


def normalize_operation_id(text: str) -> str:
    """32 lower-case hex digits; 404 for anything that is not a GUID."""
    match = _GUID.fullmatch(text)
    if match is None or (match["d"] and match["open"] + match["close"] not in ("", "{}", "()")):
        raise OperationNotFoundError()
    return (match["n"] or match["d"].replace("-", "")).lower()


def get_operation(conn: DbConn, operation_id: str) -> dao.Operation:
    """The operation with this id; 404 (empty body) when unknown."""
    operation = dao.get_operation(conn, normalize_operation_id(operation_id))
    if operation is None:
        raise OperationNotFoundError()
    return operation


def count_operations(conn: DbConn) -> list[dao.OperationCount]:
    """How many operations there are of each type and status (for the metrics)."""
    return dao.count_operations(conn)


#: How each operation type runs (operation_runs.py describes a runner). One entry per type.
RUNNERS: dict[str, Runner] = {
    dao.REINDEX: Runner(extended_query_tag_reindex.reindex,
                        extended_query_tag_reindex.release_tags),
    dao.EXPORT: Runner(export.run_export),
    dao.UPDATE: Runner(bulk_update_run.run_bulk_update),
    dao.DELETE_PARTITION: Runner(partition_deletion.run, partition_deletion.reopen_partition),
}


def _run(conn: DbConn, operation: dao.Operation, owner: str, settings: WorkerSettings,
         should_stop: Callable[[], bool]) -> None:
    runner = RUNNERS.get(operation.operation_type)
    if runner is None:
        raise ValueError(f"Unknown operation type {operation.operation_type!r}")
    runner.run(conn, operation, owner, settings, should_stop)


def run_next_operation(conn: DbConn, owner: str, settings: WorkerSettings,
                       should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Claim and run one operation; False when none is waiting."""
    now = datetime.now(timezone.utc)
    operation = dao.claim_next_operation(conn, owner, now, settings.lease_seconds)
    if operation is None:
        return False
    logger.info("Worker %s runs operation %s (%s)", owner, operation.operation_id,
                operation.operation_type)
    outcome = "completed"
    try:
        _run(conn, operation, owner, settings, should_stop)
    except LeaseLostError:
        outcome = "taken_over"
        logger.warning("Operation %s was taken over by another worker", operation.operation_id)
    except OperationInterrupted:
        outcome = "interrupted"
        _release(conn, operation, owner, operation.payload)
    except DataStoreError:
        # The database is unavailable: leave the claim; the lease expires and it is retried.
        outcome = "database_unavailable"
        logger.exception("Operation %s: database unavailable", operation.operation_id)
    except Exception:
        outcome = "failed"
        logger.exception("Operation %s failed", operation.operation_id)
        _record_failure(conn, operation, owner)
    metrics.operation_run(operation.operation_type, outcome)
    return True


def _release(conn: DbConn, operation: dao.Operation, owner: str, payload: dict) -> None:
    current = dao.get_operation(conn, operation.operation_id)
    with conn.transaction(write=True):
        dao.release_operation(conn, operation.operation_id, owner,
                              {**(current.payload if current else payload)},
                              datetime.now(timezone.utc))


def _record_failure(conn: DbConn, operation: dao.Operation, owner: str) -> None:
    current = dao.get_operation(conn, operation.operation_id) or operation
    payload = dict(current.payload)
    payload["attempts"] = int(payload.get("attempts") or 0) + 1
    now = datetime.now(timezone.utc)
    with conn.transaction(write=True):
        if payload["attempts"] < MAX_ATTEMPTS:
            dao.release_operation(conn, operation.operation_id, owner, payload, now)
            return
        if dao.complete_operation(conn, operation.operation_id, owner, dao.FAILED,
                                  current.percent_complete, None, now):
            runner = RUNNERS.get(operation.operation_type)
            if runner is not None and runner.on_failure is not None:
                runner.on_failure(conn, operation)

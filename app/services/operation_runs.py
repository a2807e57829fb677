"""What every long-running operation type shares (reference.md §9): the exceptions that end a
run early, and the checkpoint that records progress under the worker's lease.

A runner is ``run(conn, operation, owner, settings, should_stop)``: it does its work in
batches, each committed with ``checkpoint`` (which raises ``LeaseLostError`` when another
worker has taken the operation over), checks ``stop_requested`` between batches, and ends
with ``finish``. The registry of runners by operation type is in ``operations.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..dao import operations as dao
from ..db import DbConn


class LeaseLostError(RuntimeError):
    """Another worker took the operation over (this worker's lease expired)."""


class OperationInterrupted(RuntimeError):
    """The worker is stopping; the operation resumes later from its last checkpoint."""


@dataclass(frozen=True, slots=True)
class Runner:
    """How the worker runs one operation type: ``run`` to completion (or resume), and
    ``on_failure`` (optional) to undo side effects once the operation is marked failed; it
    runs in the transaction that marks it."""

    run: Callable[..., None]
    on_failure: Callable[[DbConn, dao.Operation], None] | None = None


def stop_requested(operation: dao.Operation, should_stop: Callable[[], bool]) -> None:
    """Raise OperationInterrupted when the worker is stopping (call between batches)."""
    if should_stop():
        raise OperationInterrupted(operation.operation_id)


def checkpoint(conn: DbConn, operation: dao.Operation, owner: str, percent_complete: int,
               payload: dict[str, Any]) -> None:
    """Record progress and the private ``payload`` a resumed run continues from; renews the
    lease. Call it inside the transaction that commits the batch, so progress and work commit
    together. Raises LeaseLostError if this worker no longer owns the operation."""
    if not dao.update_progress(conn, operation.operation_id, owner,
                               max(0, min(99, percent_complete)), payload,
                               datetime.now(timezone.utc)):
        raise LeaseLostError(operation.operation_id)


def finish(conn: DbConn, operation: dao.Operation, owner: str, results: Any = None,
           status: str = dao.SUCCEEDED) -> None:
    """Mark the operation done with its ``results`` (call inside the final transaction).
    Raises LeaseLostError if this worker no longer owns it."""
    if not dao.complete_operation(conn, operation.operation_id, owner, status, 100, results,
                                  datetime.now(timezone.utc)):
        raise LeaseLostError(operation.operation_id)

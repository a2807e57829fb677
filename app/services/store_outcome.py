"""What storing one part came to (``StoreOutcome``), a request's outcomes (``StoreResult``),
and how the store records a part's rejection or failure in its outcome without failing the
request (``capture``, ``reject``). The rules of storing are in ``store.py``."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ..dicomweb import status
from ..errors import DataStoreError, PartitionBeingDeletedError
from ..models import Partition
from .instance_index import Rejected

#: The store's logger: these lines are the store's.
logger = logging.getLogger("app.services.store")


@dataclass
class StoreOutcome:
    """The result of storing one part."""

    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    failure_reason: int | None = None
    warning_reason: int | None = None
    error_comments: list[str] = field(default_factory=list)
    multiple_values: bool = False

    @property
    def stored(self) -> bool:
        return self.failure_reason is None


@dataclass
class StoreResult:
    """The outcome of each part, in request order, and the partition stored into (created by
    the first stored instance when it did not exist)."""

    partition: Partition
    outcomes: list[StoreOutcome]


def capture(outcome: StoreOutcome, work: Callable[[], Any]) -> Any:
    """Run ``work``; record a rejection or an unexpected error in the outcome (None returned)."""
    try:
        return work()
    except Rejected as rejected:
        reject(outcome, rejected)
    except (DataStoreError, PartitionBeingDeletedError):  # the request's answer: the store
        raise  # raises the latter only when it finds the request's partition being deleted
    except RecursionError:  # bad input (nested too deep): one line, no traceback
        logger.warning("A part nested too deeply to process was rejected")
        reject(outcome, Rejected(status.PROCESSING_FAILURE))
    except Exception:  # never a 500 for one bad part: report it as a processing failure
        logger.exception("Unexpected error while storing a part")
        reject(outcome, Rejected(status.PROCESSING_FAILURE))
    return None


def reject(outcome: StoreOutcome, rejected: Rejected) -> None:
    outcome.failure_reason = rejected.reason
    outcome.error_comments = rejected.comments
    outcome.warning_reason = None
    if rejected.multiple_values:  # an indexed attribute had several values before it failed
        outcome.multiple_values = True

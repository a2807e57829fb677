"""Deleting a partition (issue #20): ``DELETE /partitions/{name}`` queues a ``deletePartition``
operation (reference.md §9) that the worker of any process runs.

1. The request marks the partition "deleting" (``partitions.status`` 1): from then on stores
   into it are refused (409 from the URL hook, and every store transaction re-reads the status
   under a key-share lock: ``partitions.within_quota``).
2. The operation deletes its studies one by one through the DELETE service
   (``delete.delete_study``): the same per-instance work as ``DELETE /studies/{uid}``, so each
   instance gets its change-feed Delete entry and its files are released (removed when no
   other instance, in any partition, references the same bytes). Progress is checkpointed
   after each study under the worker's lease; a run killed midway is resumed by any worker
   once the lease expires, from the studies left.
3. The last step locks the partition row (waiting for stores that passed their check), and
   when no study is left removes the workitems, the remaining extended query tag values, name
   words and statistics and marks the row deleted: a tombstone that keeps the change feed's
   entries named, while the name is free again. If a store slipped in, step 2 goes on.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Callable

from ..dao import operations as operations_dao
from ..dao import partitions as dao
from ..db import DbConn
from ..errors import (DefaultPartitionUnchangeableError, PartitionBeingDeletedError,
                      StudyNotFoundError)
from ..models import DEFAULT_PARTITION_KEY, PARTITION_DELETED
from . import delete as delete_service
from .operation_runs import checkpoint, finish, stop_requested
from .partitions import get_partition

logger = logging.getLogger(__name__)

#: Studies listed per query while the partition is emptied.
STUDIES_PER_PAGE = 20


def start_deletion(conn: DbConn, name: str) -> str:
    """Mark the partition deleting and queue its ``deletePartition`` operation; its id."""
    with conn.transaction(write=True):
        partition = get_partition(conn, name)
        key = int(partition.partition_key)  # type: ignore[arg-type]
        if key == DEFAULT_PARTITION_KEY:
            raise DefaultPartitionUnchangeableError("deleted")
        if not dao.mark_deleting(conn, key):
            raise PartitionBeingDeletedError(partition.partition_name)
        operation_id = uuid.uuid4().hex
        payload = {"partitionKey": key, "partitionName": partition.partition_name,
                   "instances": dao.get_statistics(conn, key).instances}
        operations_dao.add_operation(conn, operation_id, operations_dao.DELETE_PARTITION, [],
                                     payload, datetime.now(timezone.utc))
    logger.info("Deletion of partition %s (key %s) queued: operation %s",
                partition.partition_name, key, operation_id)
    return operation_id


def run(conn: DbConn, operation: operations_dao.Operation, owner: str, settings: object,
        should_stop: Callable[[], bool]) -> None:
    """Empty the partition study by study, then remove it (see the module docstring)."""
    key = int(operation.payload["partitionKey"])
    total = int(operation.payload.get("instances") or 0)
    blobs = getattr(settings, "blobs")
    while True:
        partition = dao.get_partition_by_key(conn, key)
        if partition is None or partition.status == PARTITION_DELETED:
            with conn.transaction(write=True):
                finish(conn, operation, owner)
            return
        uids = dao.list_study_uids(conn, key, STUDIES_PER_PAGE)
        for study_instance_uid in uids:
            stop_requested(operation, should_stop)
            try:
                delete_service.delete_study(conn, blobs, partition, study_instance_uid)
            except StudyNotFoundError:  # deleted meanwhile (a DELETE, or a resumed run)
                pass
            with conn.transaction(write=True):
                checkpoint(conn, operation, owner, _percent(conn, key, total),
                           operation.payload)
        if not uids and _remove(conn, operation, owner, key):
            logger.info("Partition %s (key %s) deleted", partition.partition_name, key)
            return


def _percent(conn: DbConn, partition_key: int, total: int) -> int:
    if total <= 0:
        return 0
    left = dao.get_statistics(conn, partition_key).instances
    return max(0, (total - left) * 100 // total)


def _remove(conn: DbConn, operation: operations_dao.Operation, owner: str,
            partition_key: int) -> bool:
    """The last step; False when a store slipped in (its studies are deleted next)."""
    with conn.transaction(write=True):
        dao.lock_for_removal(conn, partition_key)
        if dao.has_studies(conn, partition_key):
            return False
        dao.remove_partition(conn, partition_key)
        finish(conn, operation, owner)
    return True


def reopen_partition(conn: DbConn, operation: operations_dao.Operation) -> None:
    """The operation failed for good: the partition is active again (and may be deleted
    again); what was deleted stays deleted."""
    dao.reopen(conn, int(operation.payload["partitionKey"]))

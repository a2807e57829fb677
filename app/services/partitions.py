"""Data partitions: lookup, implicit creation, listing, and the startup check (reference.md §2)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..dao import partitions as dao
from ..dao.partitions import PartitionStatistics
from ..db import DbConn
from ..errors import (DataPartitionsNotFoundError, DefaultPartitionUnchangeableError,
                      DicomServerError, InvalidPartitionNameError, PartitionAlreadyExistsError,
                      PartitionBeingDeletedError, PartitionUpdateInvalidError)
from ..dicomweb.identifiers import is_valid_partition_name
from ..models import DEFAULT_PARTITION_KEY, PARTITION_ACTIVE, Partition

FEATURE_CANNOT_BE_DISABLED = (
    "Data partitions feature cannot be disabled while existing data has already been partitioned."
)


class DataPartitionsFeatureCannotBeDisabledError(DicomServerError):
    """Startup refuses: partitions exist but the feature is off."""

    message = FEATURE_CANNOT_BE_DISABLED


def validate_partition_name(name: str | None) -> str:
    """Return the name or raise the reference's invalid-name 400."""
    if not is_valid_partition_name(name):
        raise InvalidPartitionNameError()
    return name  # type: ignore[return-value]


def get_partition(conn: DbConn, name: str) -> Partition:
    """The existing partition with this name, or the reference's 400 "does not exist"."""
    partition = dao.get_partition(conn, validate_partition_name(name))
    if partition is None:
        raise DataPartitionsNotFoundError()
    return partition


def find_partition(conn: DbConn, name: str) -> Partition | None:
    """The existing partition with this name, or None."""
    return dao.get_partition(conn, validate_partition_name(name))


def partition_for_store(conn: DbConn, name: str) -> Partition:
    """The partition a STOW stores into, as stored, or a new one (no key) that its first
    instance creates; PartitionBeingDeletedError when it is being deleted (issue #20: nothing
    new goes into it)."""
    partition = find_partition(conn, name)
    if partition is None:
        return Partition(None, name)
    if partition.deleting:
        raise PartitionBeingDeletedError(partition.partition_name)
    return partition


def get_or_add_partition(conn: DbConn, name: str) -> Partition:
    """Get the partition, creating it if needed. Runs in the caller's write transaction, so a
    store that fails leaves no partition behind; concurrent creators get one row."""
    validate_partition_name(name)
    with conn.transaction(write=True):
        partition = dao.get_partition(conn, name)
        if partition is None:
            dao.add_partition_if_missing(conn, name)
            partition = dao.get_partition(conn, name)
    assert partition is not None
    return partition


def list_partitions(conn: DbConn) -> list[Partition]:
    """Every partition, ordered by key."""
    return dao.list_partitions(conn)


@dataclass(frozen=True, slots=True)
class PartitionDetails:
    """A partition as ``GET /partitions/{name}`` describes it (issue #20)."""

    partition_key: int
    partition_name: str
    created_date: datetime | None
    statistics: PartitionStatistics
    quota: Partition  # its max_instances and max_bytes


def _details(partition: Partition, statistics: PartitionStatistics) -> PartitionDetails:
    return PartitionDetails(int(partition.partition_key),  # type: ignore[arg-type]
                            partition.partition_name, partition.created_date, statistics,
                            partition)


def describe_partition(conn: DbConn, partition: Partition) -> PartitionDetails:
    """The partition with its statistics (maintained as data changes: a few rows read)."""
    return _details(partition, dao.get_statistics(conn, int(partition.partition_key)))


def list_partitions_with_statistics(conn: DbConn) -> list[PartitionDetails]:
    """Every partition with its statistics, ordered by key."""
    statistics = dao.list_statistics(conn)
    return [_details(p, statistics.get(int(p.partition_key), PartitionStatistics()))
            for p in dao.list_partitions(conn)]


#: ``update_partition``'s ``quota`` when the request leaves the quota as it is.
UNCHANGED: dict[str, int | None] = {}


def update_partition(conn: DbConn, name: str, new_name: str | None = None,
                     quota: dict[str, int | None] | None = UNCHANGED) -> PartitionDetails:
    """Rename a partition and/or change its quota (``PATCH /partitions/{name}``, issue #20).

    ``quota``: the limits to set (``max_instances``, ``max_bytes``; a missing one is kept, None
    removes it), None to remove both, UNCHANGED to keep them. The key and the data stay; after
    a rename the old name is unknown (every process resolves names in the database, per
    request). Returns the partition as ``describe_partition`` does.
    """
    if new_name is None and quota is UNCHANGED:
        raise PartitionUpdateInvalidError("The request body has neither partitionName nor quota.")
    if new_name is not None:
        validate_partition_name(new_name)
    with conn.transaction(write=True):
        # Locked as it is read: a concurrent PATCH or DELETE of the partition (through any
        # node) waits for this one and reads what it wrote, so none undoes another's change.
        partition = dao.get_partition(conn, validate_partition_name(name), for_update=True)
        if partition is None:
            raise DataPartitionsNotFoundError()
        key = int(partition.partition_key)  # type: ignore[arg-type]
        if partition.deleting:
            raise PartitionBeingDeletedError(partition.partition_name)
        if new_name is not None and new_name != partition.partition_name:
            if key == DEFAULT_PARTITION_KEY:
                raise DefaultPartitionUnchangeableError("renamed")
            other = dao.get_partition(conn, new_name)
            if other is not None and other.partition_key != key:
                raise PartitionAlreadyExistsError(new_name)
            try:
                dao.rename_partition(conn, key, new_name)
            except conn.engine.integrity_errors:  # a concurrent rename or creation took it
                raise PartitionAlreadyExistsError(new_name) from None
        if quota is not UNCHANGED:
            limits = quota or {"max_instances": None, "max_bytes": None}
            dao.set_quota(conn, key, limits.get("max_instances", partition.max_instances),
                          limits.get("max_bytes", partition.max_bytes))
        updated = dao.get_partition_by_key(conn, key)
    assert updated is not None
    return describe_partition(conn, updated)


def within_quota(conn: DbConn, partition: Partition, sizes: list[int],
                 lock: bool = False) -> list[bool]:
    """Which of these new instances (their file sizes, in store order) the partition's quota
    admits, each counted after the ones admitted before it.

    ``lock`` (in the store's write transaction, before its rows): read the partition's status
    and quota as they are now (key-share locked, so a deletion's last step waits for this
    store), raise PartitionBeingDeletedError when it is being (or was) deleted, and with a
    quota serialize with the other stores into the partition, so the answer stays true until
    commit. Without ``lock`` (the check before files are written) the quota the request
    resolved is used, and nothing is locked.
    """
    if not partition.exists:
        return [True] * len(sizes)
    key = int(partition.partition_key)  # type: ignore[arg-type]
    limits: Partition | dao.StoreCheck = partition
    if lock:
        current = dao.lock_for_store(conn, key)
        if current is None or current.status != PARTITION_ACTIVE:
            raise PartitionBeingDeletedError(partition.partition_name)
        limits = current
    if limits.max_instances is None and limits.max_bytes is None:
        return [True] * len(sizes)
    usage = dao.get_usage(conn, key, lock=lock)
    if usage is None:
        return [True] * len(sizes)
    instances, stored = usage.instances, usage.stored_bytes
    admitted = []
    for size in sizes:
        fits = ((usage.max_instances is None or instances + 1 <= usage.max_instances)
                and (usage.max_bytes is None or stored + size <= usage.max_bytes))
        if fits:
            instances, stored = instances + 1, stored + size
        admitted.append(fits)
    return admitted


def check_feature_can_be_disabled(conn: DbConn) -> None:
    """Raise when the feature is off but non-default partitions exist (reference.md §2.1)."""
    if dao.count_partitions(conn) > 1:
        raise DataPartitionsFeatureCannotBeDisabledError()

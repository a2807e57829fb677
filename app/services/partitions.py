"""Data partitions: lookup, implicit creation, listing, and the startup check (reference.md §2)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..dao import partitions as dao
from ..dao.partitions import PartitionStatistics
from ..db import DbConn
from ..errors import DataPartitionsNotFoundError, DicomServerError, InvalidPartitionNameError
from ..dicomweb.identifiers import is_valid_partition_name
from ..models import Partition

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


def _details(partition: Partition, statistics: PartitionStatistics) -> PartitionDetails:
    return PartitionDetails(int(partition.partition_key),  # type: ignore[arg-type]
                            partition.partition_name, partition.created_date, statistics)


def describe_partition(conn: DbConn, partition: Partition) -> PartitionDetails:
    """The partition with its statistics (maintained as data changes: a few rows read)."""
    return _details(partition, dao.get_statistics(conn, int(partition.partition_key)))


def list_partitions_with_statistics(conn: DbConn) -> list[PartitionDetails]:
    """Every partition with its statistics, ordered by key."""
    statistics = dao.list_statistics(conn)
    return [_details(p, statistics.get(int(p.partition_key), PartitionStatistics()))
            for p in dao.list_partitions(conn)]


def check_feature_can_be_disabled(conn: DbConn) -> None:
    """Raise when the feature is off but non-default partitions exist (reference.md §2.1)."""
    if dao.count_partitions(conn) > 1:
        raise DataPartitionsFeatureCannotBeDisabledError()

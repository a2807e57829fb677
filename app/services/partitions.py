"""Data partitions: lookup, implicit creation, listing, and the startup check (reference.md §2)."""
from __future__ import annotations

from ..dao import partitions as dao
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


def check_feature_can_be_disabled(conn: DbConn) -> None:
    """Raise when the feature is off but non-default partitions exist (reference.md §2.1)."""
    if dao.count_partitions(conn) > 1:
        raise DataPartitionsFeatureCannotBeDisabledError()

"""Domain models shared by services and the DAO."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

DEFAULT_PARTITION_KEY = 1
DEFAULT_PARTITION_NAME = "Microsoft.Default"
#: ``partitions.status`` (issue #20): stores are refused while deleting; a deleted partition's
#: row stays (the change feed names it) without a name anyone can address.
PARTITION_ACTIVE, PARTITION_DELETING, PARTITION_DELETED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Partition:
    """A data partition. ``partition_key`` is None for a partition not created yet (STOW)."""

    partition_key: int | None
    partition_name: str
    created_date: datetime | None = None
    #: The quota (issue #20): the most instances / bytes it may hold; None = no limit.
    max_instances: int | None = None
    max_bytes: int | None = None
    status: int = PARTITION_ACTIVE

    @property
    def exists(self) -> bool:
        return self.partition_key is not None

    @property
    def deleting(self) -> bool:
        return self.status == PARTITION_DELETING

    @property
    def has_quota(self) -> bool:
        return self.max_instances is not None or self.max_bytes is not None


DEFAULT_PARTITION = Partition(DEFAULT_PARTITION_KEY, DEFAULT_PARTITION_NAME)


@dataclass(frozen=True, slots=True)
class VersionedInstance:
    """A stored instance: its identifier, version (watermark) and file."""

    partition_key: int
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    watermark: int
    blob_key: str
    blob_size: int
    transfer_syntax_uid: str | None = None
    sop_class_uid: str | None = None
    number_of_frames: int | None = None
    #: The file as first stored, when a bulk update replaced it (None: never updated).
    original_blob_key: str | None = None
    original_blob_size: int | None = None

    def original(self) -> "VersionedInstance":
        """This instance with its original file (itself when it was never updated)."""
        if self.original_blob_key is None or self.original_blob_size is None:
            return self
        return replace(self, blob_key=self.original_blob_key,
                       blob_size=self.original_blob_size)


#: ``tag_level`` of an extended query tag row -> the level name (reference.md §8.3).
EXTENDED_QUERY_TAG_LEVELS = {0: "instance", 1: "series", 2: "study"}


@dataclass(frozen=True, slots=True)
class ExtendedQueryTag:
    """A row of ``extended_query_tags`` (reference.md §8.3); the management API fills every field,
    the QIDO read side only the first eight."""

    tag_key: int
    tag_path: str
    tag_vr: str
    tag_private_creator: str | None
    tag_level: int
    tag_status: int
    query_status: int
    error_count: int
    operation_id: str | None = None
    created_time: datetime | None = None

    @property
    def level(self) -> str:
        """``study``, ``series`` or ``instance``."""
        return EXTENDED_QUERY_TAG_LEVELS[self.tag_level]

"""WADO-RS reads: visible instances and their stored DICOM JSON (sql: common/retrieve.sql).

Each query names its partition (any case) and returns the stored partition with every row, so a
read is one round trip; no rows means the instances or the partition do not exist."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db import DbConn
from ..models import Partition, VersionedInstance


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    """The stored DICOM JSON text of one instance version."""

    series_instance_uid: str
    sop_instance_uid: str
    watermark: int
    dataset: str
    partition: Partition


def _partition(row: Any) -> Partition:
    return Partition(int(row["partition_key"]), row["partition_name"])


def _instance(row: Any, uids: Any = None) -> VersionedInstance:
    """The instance of ``row``; its UIDs from ``uids`` when given (a lookup by all three)."""
    frames = row["number_of_frames"]
    uids = row if uids is None else uids
    return VersionedInstance(
        partition_key=int(row["partition_key"]), study_instance_uid=uids["study_instance_uid"],
        series_instance_uid=uids["series_instance_uid"], sop_instance_uid=uids["sop_instance_uid"],
        watermark=int(row["watermark"]), blob_key=row["blob_key"],
        blob_size=int(row["blob_size"]), transfer_syntax_uid=row["transfer_syntax_uid"],
        sop_class_uid=row["sop_class_uid"],
        number_of_frames=None if frames is None else int(frames),
        original_blob_key=row["original_blob_key"],
        original_blob_size=None if row["original_blob_size"] is None
        else int(row["original_blob_size"]))


def _metadata(row: Any) -> InstanceMetadata:
    return InstanceMetadata(row["series_instance_uid"], row["sop_instance_uid"],
                            int(row["watermark"]), row["dataset"], _partition(row))


def _uids(partition_name: str, study_instance_uid: str, series_instance_uid: str | None,
          sop_instance_uid: str | None) -> dict[str, Any]:
    """The parameters of the study, series or instance query (by which UIDs are given)."""
    params: dict[str, Any] = {"partition_name": partition_name,
                              "study_instance_uid": study_instance_uid}
    if series_instance_uid is not None:
        params["series_instance_uid"] = series_instance_uid
    if sop_instance_uid is not None:
        params["sop_instance_uid"] = sop_instance_uid
    return params


def list_instances(conn: DbConn, partition_name: str, study_instance_uid: str,
                   series_instance_uid: str | None = None,
                   sop_instance_uid: str | None = None
                   ) -> tuple[Partition | None, list[VersionedInstance]]:
    """The partition (None when nothing was found) and the visible instances of a study, a
    series (with ``series_instance_uid``) or one instance (with both), in store order."""
    uids = _uids(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)
    if sop_instance_uid is not None:
        row = conn.run("get_instance", **uids)
        if row is None:
            return None, []
        return _partition(row), [_instance(row, uids)]
    if series_instance_uid is not None:
        rows = conn.run("list_series_instances", **uids)
    else:
        rows = conn.run("list_study_instances", **uids)
    return (_partition(rows[0]) if rows else None), [_instance(row) for row in rows]


def list_metadata(conn: DbConn, partition_name: str, study_instance_uid: str,
                  series_instance_uid: str | None = None,
                  sop_instance_uid: str | None = None,
                  original: bool = False) -> list[InstanceMetadata]:
    """The stored DICOM JSON of the visible instances of a study, series or instance (with
    ``original``, of each one's original version; the watermarks stay the current ones)."""
    uids = _uids(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)
    uids["original"] = 1 if original else 0
    if sop_instance_uid is not None:
        rows = conn.run("list_instance_metadata", **uids)
    elif series_instance_uid is not None:
        rows = conn.run("list_series_metadata", **uids)
    else:
        rows = conn.run("list_study_metadata", **uids)
    return [_metadata(row) for row in rows]

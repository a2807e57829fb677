"""WADO-RS reads: visible instances and their stored DICOM JSON (sql: common/retrieve.sql)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db import DbConn
from ..models import VersionedInstance


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    """The stored DICOM JSON text of one instance version."""

    series_instance_uid: str
    sop_instance_uid: str
    watermark: int
    dataset: str


def _instance(row: Any, partition_key: int) -> VersionedInstance:
    frames = row["number_of_frames"]
    return VersionedInstance(
        partition_key=partition_key, study_instance_uid=row["study_instance_uid"],
        series_instance_uid=row["series_instance_uid"], sop_instance_uid=row["sop_instance_uid"],
        watermark=int(row["watermark"]), blob_key=row["blob_key"],
        blob_size=int(row["blob_size"]), transfer_syntax_uid=row["transfer_syntax_uid"],
        sop_class_uid=row["sop_class_uid"],
        number_of_frames=None if frames is None else int(frames))


def _metadata(row: Any) -> InstanceMetadata:
    return InstanceMetadata(row["series_instance_uid"], row["sop_instance_uid"],
                            int(row["watermark"]), row["dataset"])


def _uids(partition_key: int, study_instance_uid: str, series_instance_uid: str | None,
          sop_instance_uid: str | None) -> dict[str, Any]:
    """The parameters of the study, series or instance query (by which UIDs are given)."""
    params: dict[str, Any] = {"partition_key": partition_key,
                              "study_instance_uid": study_instance_uid}
    if series_instance_uid is not None:
        params["series_instance_uid"] = series_instance_uid
    if sop_instance_uid is not None:
        params["sop_instance_uid"] = sop_instance_uid
    return params


def list_instances(conn: DbConn, partition_key: int, study_instance_uid: str,
                   series_instance_uid: str | None = None,
                   sop_instance_uid: str | None = None) -> list[VersionedInstance]:
    """The visible instances of a study, a series (with ``series_instance_uid``) or one
    instance (with both), in store order."""
    uids = _uids(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)
    if sop_instance_uid is not None:
        row = conn.run("get_instance", **uids)
        rows = [] if row is None else [row]
    elif series_instance_uid is not None:
        rows = conn.run("list_series_instances", **uids)
    else:
        rows = conn.run("list_study_instances", **uids)
    return [_instance(row, partition_key) for row in rows]


def list_metadata(conn: DbConn, partition_key: int, study_instance_uid: str,
                  series_instance_uid: str | None = None,
                  sop_instance_uid: str | None = None) -> list[InstanceMetadata]:
    """The stored DICOM JSON of the visible instances of a study, series or instance."""
    uids = _uids(partition_key, study_instance_uid, series_instance_uid, sop_instance_uid)
    if sop_instance_uid is not None:
        rows = conn.run("list_instance_metadata", **uids)
    elif series_instance_uid is not None:
        rows = conn.run("list_series_metadata", **uids)
    else:
        rows = conn.run("list_study_metadata", **uids)
    return [_metadata(row) for row in rows]

"""WADO-RS reads: visible instances and their stored DICOM JSON (sql: common/retrieve.sql).

Each query names its partition (any case) and returns the stored partition with every row, so a
read is one round trip; no rows means the instances or the partition do not exist."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

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


@dataclass(frozen=True, slots=True)
class MetadataBatch:
    """Instances' stored DICOM JSON, in store order, read by one statement; ``count`` and
    ``max_watermark`` are of every row that statement reads (all batches together)."""

    rows: list[InstanceMetadata]
    count: int
    max_watermark: int

    @property
    def partition(self) -> Partition:
        return self.rows[0].partition


def _batch(rows: list[Any]) -> MetadataBatch:
    first = rows[0]
    return MetadataBatch([_metadata(row) for row in rows], int(first["instance_count"]),
                         int(first["max_watermark"]))


def _metadata_params(partition_name: str, study_instance_uid: str,
                     series_instance_uid: str | None, sop_instance_uid: str | None,
                     original: bool) -> dict[str, Any]:
    params = _uids(partition_name, study_instance_uid, series_instance_uid, sop_instance_uid)
    params["original"] = 1 if original else 0
    return params


def first_metadata(conn: DbConn, partition_name: str, study_instance_uid: str,
                   series_instance_uid: str | None = None, sop_instance_uid: str | None = None,
                   original: bool = False, max_rows: int = 1) -> MetadataBatch | None:
    """The stored DICOM JSON of up to ``max_rows`` visible instances of a study or series, or
    of one instance (with all three UIDs), in one statement; None when nothing is found. With
    ``original``, each one's original version (the watermarks stay the current ones).
    ``count`` above ``max_rows``: there are more rows, for ``stream_metadata``."""
    params = _metadata_params(partition_name, study_instance_uid, series_instance_uid,
                              sop_instance_uid, original)
    if sop_instance_uid is not None:
        rows = conn.run("list_instance_metadata", **params)
        if not rows:
            return None
        return MetadataBatch([_metadata(rows[0])], 1, int(rows[0]["watermark"]))
    if series_instance_uid is not None:
        rows = conn.run("list_series_metadata", max_rows=max_rows, **params)
    else:
        rows = conn.run("list_study_metadata", max_rows=max_rows, **params)
    return _batch(rows) if rows else None


#: A ``max_rows`` above any study's count: the statement reads them all.
_ALL_ROWS = 2 ** 62


def stream_metadata(conn: DbConn, partition_name: str, study_instance_uid: str,
                    series_instance_uid: str | None, original: bool,
                    batch_size: int) -> Iterator[MetadataBatch]:
    """``first_metadata`` of a whole study or series as one statement whose rows are fetched
    ``batch_size`` at a time as they are asked for (``DbConn.stream``): every batch carries the
    count and largest watermark of all the rows, one snapshot. Nothing found: no batch. Close
    the generator (or exhaust it) before the connection is used again."""
    params = _metadata_params(partition_name, study_instance_uid, series_instance_uid, None,
                              original)
    if series_instance_uid is not None:
        rows = conn.stream("list_series_metadata", batch_size, max_rows=_ALL_ROWS, **params)
    else:
        rows = conn.stream("list_study_metadata", batch_size, max_rows=_ALL_ROWS, **params)
    try:
        for batch in rows:
            yield _batch(batch)
    finally:
        rows.close()

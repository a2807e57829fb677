"""Export reads (reference-2.md §3.3; sql: common/export.sql): the visible instances an
export identifier names, counted, and listed a page at a time in UID order."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db import DbConn


@dataclass(frozen=True, slots=True)
class ExportInstance:
    """One instance to copy: its series and SOP instance UIDs and its current file."""

    series_instance_uid: str
    sop_instance_uid: str
    blob_key: str


def _instance(row: Any) -> ExportInstance:
    return ExportInstance(row["series_instance_uid"], row["sop_instance_uid"], row["blob_key"])


def count_instances(conn: DbConn, partition_key: int, study: str, series: str | None,
                    sop: str | None) -> int:
    """How many visible instances the study, series or instance has."""
    if sop is not None:
        return len(list_instances(conn, partition_key, study, series, sop, "", "", 1))
    if series is not None:
        row = conn.run("count_export_series_instances", partition_key=partition_key,
                       study_instance_uid=study, series_instance_uid=series)
    else:
        row = conn.run("count_export_study_instances", partition_key=partition_key,
                       study_instance_uid=study)
    return int(row["instance_count"])


def list_instances(conn: DbConn, partition_key: int, study: str, series: str | None,
                   sop: str | None, after_series: str, after_sop: str,
                   batch_size: int) -> list[ExportInstance]:
    """Up to ``batch_size`` visible instances of the study, series or instance that come
    after (``after_series``, ``after_sop``) in UID order (empty strings: from the start)."""
    if sop is not None:
        if after_sop:
            return []
        row = conn.run("get_export_instance", partition_key=partition_key,
                       study_instance_uid=study, series_instance_uid=series,
                       sop_instance_uid=sop)
        return [] if row is None else [_instance(row)]
    if series is not None:
        rows = conn.run("list_export_series_instances", partition_key=partition_key,
                        study_instance_uid=study, series_instance_uid=series,
                        after_sop_instance_uid=after_sop, batch_size=batch_size)
    else:
        rows = conn.run("list_export_study_instances", partition_key=partition_key,
                        study_instance_uid=study, after_series_instance_uid=after_series,
                        after_sop_instance_uid=after_sop, batch_size=batch_size)
    return [_instance(row) for row in rows]

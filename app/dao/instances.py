"""Study, series and instance rows: the store path."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import DbConn
from ..errors import InstanceAlreadyExistsError
from ..models import Partition
from . import extended_query_tags, partitions
from .query import index_study_name_words, study_name_words

STATUS_CREATING = 0
STATUS_CREATED = 1

ACTION_CREATE, ACTION_DELETE, ACTION_UPDATE = 0, 1, 2


class StudyRemovedError(Exception):
    """PostgreSQL: the study or series row a store found unchanged (and so did not lock) was
    removed by a concurrent delete before the instance row referenced it; store again."""


#: SQLSTATE foreign_key_violation.
_FOREIGN_KEY_VIOLATION = "23503"


@dataclass(frozen=True, slots=True)
class NewInstance:
    """Everything the index records for a stored instance."""

    partition_key: int
    study: dict[str, Any]  # study columns (INDEXED_ATTRIBUTES at study level)
    series: dict[str, Any]  # series columns
    sop_instance_uid: str
    sop_class_uid: str | None
    instance_number: int | None
    transfer_syntax_uid: str | None
    number_of_frames: int | None
    blob_key: str
    blob_size: int
    metadata_json: str


@dataclass(frozen=True, slots=True)
class InstanceKeys:
    """Keys of a stored instance's rows, for the values of extended query tags."""

    partition_key: int
    study_key: int
    series_key: int
    instance_key: int
    watermark: int


def get_instance_status(conn: DbConn, partition_key: int, study_instance_uid: str,
                        series_instance_uid: str, sop_instance_uid: str,
                        lock_tags: bool = False) -> int | None:
    """The status of the instance, or None when it does not exist.

    ``lock_tags`` (inside a write transaction): also take the shared lock on the extended query
    tag definitions (``extended_query_tags.lock_tags_shared``) and check the partition
    (``partitions.lock_for_store``), in the same round trip on PostgreSQL.
    """
    uids = {"partition_key": partition_key, "study_instance_uid": study_instance_uid,
            "series_instance_uid": series_instance_uid, "sop_instance_uid": sop_instance_uid}
    if lock_tags:
        row = conn.run("get_instance_status_locking_tags", **uids)
        conn.transaction_cache[extended_query_tags.TAGS_LOCKED] = True
        partitions.note_store_check(conn, partition_key, row)
        return None if row["status"] is None else int(row["status"])
    row = conn.run("get_instance_status", **uids)
    return None if row is None else int(row["status"])


def get_instance_status_in_partition_named(
        conn: DbConn, partition_name: str, study_instance_uid: str, series_instance_uid: str,
        sop_instance_uid: str, lock_tags: bool = False) -> tuple[Partition | None, int | None]:
    """``get_instance_status`` for a partition known by its requested name only, found by
    that name in the same round trip: (the partition as stored, or None when there is none;
    the instance's status, or None). ``lock_tags`` as there."""
    row = conn.run("get_instance_status_by_partition_name", partition_name=partition_name,
                   study_instance_uid=study_instance_uid,
                   series_instance_uid=series_instance_uid, sop_instance_uid=sop_instance_uid)
    if lock_tags:
        conn.transaction_cache[extended_query_tags.TAGS_LOCKED] = True
    if row["partition_key"] is None:
        return None, None
    partition = partitions.from_store_check(row)
    if lock_tags:
        partitions.note_store_check(conn, int(row["partition_key"]), row)
    return partition, None if row["status"] is None else int(row["status"])


def get_instance_statuses(conn: DbConn, partition_key: int,
                          uids: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """The status of each of these (study, series, SOP instance) UIDs the partition has, in
    one query (by the partition's SOP instance UID index)."""
    if not uids:
        return {}
    rows = conn.run("get_instance_statuses", partition_key=partition_key,
                    sop_instance_uids=conn.engine.list_parameter(sorted({u[2] for u in uids})))
    wanted = set(uids)
    found = {}
    for row in rows:
        key = (row["study_instance_uid"], row["series_instance_uid"], row["sop_instance_uid"])
        if key in wanted:
            found[key] = int(row["status"])
    return found


def next_watermark(conn: DbConn) -> int:
    return int(conn.run("next_watermark")["watermark"])


def add_instance(conn: DbConn, new: NewInstance, now: datetime) -> InstanceKeys:
    """Insert (or update) study and series, then the instance, its metadata, blob reference and
    change-feed entry. Call inside a write transaction. Returns the rows' keys.

    Raises InstanceAlreadyExistsError when the partition already has these UIDs.
    """
    if conn.engine.data_modifying_ctes:
        return _add_instance_one_statement(conn, new, now)
    keys = _add_instance_step_by_step(conn, new, now)
    index_study_name_words(conn, keys.partition_key, keys.study_key, new.study)
    return keys


def _add_instance_step_by_step(conn: DbConn, new: NewInstance, now: datetime) -> InstanceKeys:
    study_key = conn.run("add_study", partition_key=new.partition_key, created_date=now,
                         **new.study)["study_key"]
    series_key = conn.run("add_series", study_key=study_key, partition_key=new.partition_key,
                          created_date=now, **new.series)["series_key"]
    watermark = next_watermark(conn)
    try:
        instance_key = conn.run(
            "add_instance", partition_key=new.partition_key, study_key=study_key,
            series_key=series_key, study_instance_uid=new.study["study_instance_uid"],
            series_instance_uid=new.series["series_instance_uid"],
            sop_instance_uid=new.sop_instance_uid, sop_class_uid=new.sop_class_uid,
            instance_number=new.instance_number, watermark=watermark, status=STATUS_CREATED,
            transfer_syntax_uid=new.transfer_syntax_uid, number_of_frames=new.number_of_frames,
            blob_key=new.blob_key, blob_size=new.blob_size, created_date=now)["instance_key"]
    except conn.engine.integrity_errors as exc:
        raise InstanceAlreadyExistsError() from exc
    conn.run("add_instance_metadata", watermark=watermark, partition_key=new.partition_key,
             dataset=new.metadata_json)
    conn.run("add_blob_reference", blob_key=new.blob_key, size=new.blob_size, created_date=now)
    conn.run("add_change_feed_entry", timestamp=now, action=ACTION_CREATE,
             partition_key=new.partition_key, study_instance_uid=new.study["study_instance_uid"],
             series_instance_uid=new.series["series_instance_uid"],
             sop_instance_uid=new.sop_instance_uid, original_watermark=watermark,
             current_watermark=watermark)
    # A re-created instance: its earlier change-feed entries now read "Replaced" (issue #6).
    conn.run("replace_change_feed_watermark", partition_key=new.partition_key,
             study_instance_uid=new.study["study_instance_uid"],
             series_instance_uid=new.series["series_instance_uid"],
             sop_instance_uid=new.sop_instance_uid, watermark=watermark)
    return InstanceKeys(new.partition_key, int(study_key), int(series_key), int(instance_key),
                        int(watermark))


def _add_instance_one_statement(conn: DbConn, new: NewInstance, now: datetime) -> InstanceKeys:
    """PostgreSQL: every row of ``add_instance`` in one statement (one round trip), with the
    study's name words; records the extended query tag signature it read
    (``extended_query_tags.TAG_SIGNATURE``). Raises StudyRemovedError (see there)."""
    words = study_name_words(new.study)
    try:
        row = conn.run("add_instance_rows", partition_key=new.partition_key, **new.study,
                       **new.series, sop_instance_uid=new.sop_instance_uid,
                       sop_class_uid=new.sop_class_uid, instance_number=new.instance_number,
                       status=STATUS_CREATED, transfer_syntax_uid=new.transfer_syntax_uid,
                       number_of_frames=new.number_of_frames, blob_key=new.blob_key,
                       blob_size=new.blob_size, dataset=new.metadata_json, action=ACTION_CREATE,
                       created_date=now, name_kinds=[kind for kind, _ in words],
                       name_words=[word for _, word in words])
    except conn.engine.integrity_errors as exc:
        if getattr(exc, "pgcode", None) == _FOREIGN_KEY_VIOLATION:
            raise StudyRemovedError() from exc
        raise InstanceAlreadyExistsError() from exc
    conn.transaction_cache[extended_query_tags.TAG_SIGNATURE] = row["tag_signature"]
    return InstanceKeys(new.partition_key, int(row["study_key"]), int(row["series_key"]),
                        int(row["instance_key"]), int(row["watermark"]))

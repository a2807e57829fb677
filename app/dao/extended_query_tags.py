"""Extended query tag rows: definitions, values (one table per value type) and errors."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..db import DbConn, as_datetime
from ..models import ExtendedQueryTag

LEVEL_INSTANCE, LEVEL_SERIES, LEVEL_STUDY = 0, 1, 2
STATUS_ADDING, STATUS_READY, STATUS_DELETING = 0, 1, 2
QUERY_DISABLED, QUERY_ENABLED = 0, 1

#: Value tables (whitelist for the dynamic upsert) and their value columns.
VALUE_TABLES: dict[str, tuple[str, ...]] = {
    "string": ("tag_value", "tag_value_folded"),
    "long": ("tag_value",),
    "double": ("tag_value",),
    "datetime": ("tag_value",),
    "person_name": ("tag_value", "tag_value_words", "tag_value_folded"),
}
_KEY_COLUMNS = ("tag_key", "partition_key", "study_key", "series_key", "instance_key",
                "watermark")
_ROWS_PER_STATEMENT = 500




@dataclass(frozen=True, slots=True)
class TagValue:
    """One value row: ``keys`` = (tag, partition, study, series, instance, watermark)."""

    table: str
    keys: tuple[int, int, int, int, int, int]
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TagError:
    """Why an instance's value of a tag was not indexed."""

    tag_key: int
    partition_key: int
    watermark: int
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    error_message: str
    partition_name: str | None = None
    created_time: datetime | None = None


def _to_tag(row: Any) -> ExtendedQueryTag:
    return ExtendedQueryTag(int(row["tag_key"]), row["tag_path"], row["tag_vr"],
                            row["tag_private_creator"], int(row["tag_level"]),
                            int(row["tag_status"]), int(row["query_status"]),
                            int(row["error_count"]), row["operation_id"],
                            as_datetime(row["created_time"]))


def list_tags(conn: DbConn, limit: int, offset: int) -> list[ExtendedQueryTag]:
    return [_to_tag(r) for r in conn.run("list_extended_query_tags", limit=limit, offset=offset)]


def list_indexable_tags(conn: DbConn) -> list[ExtendedQueryTag]:
    """Tags that are adding or ready (what a new instance must index)."""
    return [_to_tag(r) for r in conn.run("list_indexable_extended_query_tags")]


def get_tag(conn: DbConn, tag_path: str) -> ExtendedQueryTag | None:
    row = conn.run("get_extended_query_tag", tag_path=tag_path)
    return _to_tag(row) if row else None


def get_tag_by_key(conn: DbConn, tag_key: int) -> ExtendedQueryTag | None:
    row = conn.run("get_extended_query_tag_by_key", tag_key=tag_key)
    return _to_tag(row) if row else None


def count_tags(conn: DbConn) -> int:
    return int(conn.run("count_extended_query_tags")["tag_count"])


def lock_tags(conn: DbConn) -> None:
    """Serialise tag additions until the end of the current write transaction."""
    conn.run("lock_extended_query_tags")


#: DbConn.transaction_cache keys: the shared lock is held (``lock_tags_shared``, or
#: ``instances.get_instance_status(lock_tags=True)``); the signature of the indexable tags that
#: the store statement read under that lock (``indexable_signature`` of the same list).
TAGS_LOCKED = "extended_query_tags.locked"
TAG_SIGNATURE = "extended_query_tags.signature"
#: DbConn.shared_cache key of the process's list of indexable tags (services'
#: extended_query_tags); forgotten whenever this process changes a tag.
INDEXABLE = "extended_query_tags.indexable"


def _forget_indexable(conn: DbConn) -> None:
    conn.shared_cache.pop(INDEXABLE, None)


def lock_tags_shared(conn: DbConn) -> None:
    """Keep tags from being added or deleted until the end of the current store transaction."""
    conn.run("lock_extended_query_tags_shared")
    conn.transaction_cache[TAGS_LOCKED] = True


def indexable_signature(tags: Iterable[ExtendedQueryTag]) -> str:
    """What ``add_instance_rows`` returns as ``tag_signature`` for these indexable tags."""
    return ",".join(f"{tag.tag_key}:{tag.tag_status}" for tag in sorted(
        tags, key=lambda tag: tag.tag_key))


def add_tag(conn: DbConn, tag_path: str, tag_vr: str, tag_private_creator: str | None,
            tag_level: int, operation_id: str, now: datetime) -> int:
    """Insert a tag with status adding; returns its key (a duplicate path raises the driver's
    integrity error)."""
    _forget_indexable(conn)
    return int(conn.run("add_extended_query_tag", tag_path=tag_path, tag_vr=tag_vr,
                        tag_private_creator=tag_private_creator, tag_level=tag_level,
                        tag_status=STATUS_ADDING, operation_id=operation_id,
                        created_time=now)["tag_key"])


def update_query_status(conn: DbConn, tag_key: int, query_status: int) -> None:
    conn.run("update_extended_query_tag_query_status", tag_key=tag_key,
             query_status=query_status)


def complete_tag(conn: DbConn, tag_key: int, operation_id: str) -> int:
    """Mark a tag ready after its re-index; returns its error count."""
    _forget_indexable(conn)
    errors = int(conn.run("count_extended_query_tag_errors", tag_key=tag_key)["error_count"])
    conn.run("complete_extended_query_tag", tag_key=tag_key, operation_id=operation_id,
             error_count=errors)
    return errors


def release_tag(conn: DbConn, tag_key: int, operation_id: str) -> None:
    _forget_indexable(conn)
    conn.run("release_extended_query_tag", tag_key=tag_key, operation_id=operation_id)


def delete_tag(conn: DbConn, tag_key: int) -> None:
    """Remove a tag, its values and its errors. Call inside a write transaction."""
    _forget_indexable(conn)
    conn.run("mark_extended_query_tag_deleting", tag_key=tag_key)
    conn.run("delete_extended_query_tag_strings", tag_key=tag_key)
    conn.run("delete_extended_query_tag_longs", tag_key=tag_key)
    conn.run("delete_extended_query_tag_doubles", tag_key=tag_key)
    conn.run("delete_extended_query_tag_datetimes", tag_key=tag_key)
    conn.run("delete_extended_query_tag_person_names", tag_key=tag_key)
    conn.run("delete_errors_of_extended_query_tag", tag_key=tag_key)
    conn.run("delete_extended_query_tag", tag_key=tag_key)


def upsert_values(conn: DbConn, values: Iterable[TagValue]) -> None:
    """Write value rows, "latest wins" by watermark (study and series rows are shared by the
    instances below them), with multi-row statements."""
    by_table: dict[str, dict[tuple[int, ...], TagValue]] = {}
    for value in values:
        rows = by_table.setdefault(value.table, {})
        key = value.keys[:5]
        # One statement may not touch a row twice (PostgreSQL): keep the newest per key.
        if key not in rows or rows[key].keys[5] <= value.keys[5]:
            rows[key] = value
    for table, rows in by_table.items():
        _upsert(conn, table, list(rows.values()))


def _upsert(conn: DbConn, table: str, rows: Sequence[TagValue]) -> None:
    """A documented dynamic builder of app/dao (as dao/query.py): one multi-row
    INSERT ... ON CONFLICT per chunk, whose table and column names come from the whitelist
    ``VALUE_TABLES`` and whose row count varies, so its text is built here, not in sql/."""
    value_columns = VALUE_TABLES[table]  # KeyError for anything not whitelisted
    name = f"extended_query_tag_{table}"
    columns = _KEY_COLUMNS + value_columns
    placeholder = "(" + ", ".join("?" for _ in columns) + ")"
    updates = ", ".join(f"{c} = excluded.{c}" for c in ("watermark",) + value_columns)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        params: list[Any] = []
        for row in chunk:
            params.extend(row.keys)
            params.extend(row.values)
        conn.execute(
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
            + ", ".join(placeholder for _ in chunk)
            + f" ON CONFLICT ({', '.join(_KEY_COLUMNS[:5])}) DO UPDATE SET {updates}"
            f" WHERE excluded.watermark >= {name}.watermark", params)


def add_errors(conn: DbConn, errors: Iterable[TagError], now: datetime) -> None:
    for error in errors:
        conn.run("add_extended_query_tag_error", tag_key=error.tag_key,
                 partition_key=error.partition_key, watermark=error.watermark,
                 study_instance_uid=error.study_instance_uid,
                 series_instance_uid=error.series_instance_uid,
                 sop_instance_uid=error.sop_instance_uid,
                 error_message=error.error_message[:400], created_time=now)


def list_errors(conn: DbConn, tag_key: int, limit: int, offset: int) -> list[TagError]:
    return [TagError(tag_key, int(r["partition_key"]), int(r["watermark"]),
                     r["study_instance_uid"], r["series_instance_uid"], r["sop_instance_uid"],
                     r["error_message"], r["partition_name"], as_datetime(r["created_time"]))
            for r in conn.run("list_extended_query_tag_errors", tag_key=tag_key, limit=limit,
                              offset=offset)]


def list_instances_to_reindex(conn: DbConn, after_watermark: int, batch_size: int) -> list[Any]:
    """The next batch of stored instances with their DICOM JSON, by watermark."""
    return conn.run("list_instances_to_reindex", after_watermark=after_watermark,
                    batch_size=batch_size)


def lock_live_instances(conn: DbConn, watermarks: list[int]) -> set[int]:
    """The watermarks of these instances that are still stored (status 1). On PostgreSQL the
    rows are locked FOR SHARE until commit, so a concurrent delete waits for the re-index batch
    and then removes its values too."""
    if not watermarks:
        return set()
    rows = conn.run("lock_live_instances", watermarks=conn.engine.list_parameter(watermarks))
    return {int(row["watermark"]) for row in rows}


def count_instances_to_reindex(conn: DbConn) -> int:
    return int(conn.run("count_instances_to_reindex")["instance_count"])

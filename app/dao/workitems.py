"""Workitem rows (sql/queries/*/workitems.sql) and the workitem search SQL, a documented dynamic
builder of app/dao (its text depends on the search's filters; see dao/query.py).

The search is one SELECT over one partition's workitems, newest first, one page; each filter is a
condition on an index column or an ``EXISTS`` over the indexed values (any sequence item; for
fuzzy PatientName, a prefix of any word of the name, one ``EXISTS`` per query word).
Conditions are turned into SQL by the QIDO builder (``dao.query._Sql``), so wildcards, ranges
and UID lists behave the same way on both databases.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import DbConn
from ..dicomweb import matching
from ..dicomweb.ups_query import SearchableValues, WorkitemQuery
from .query import _Sql


@dataclass(frozen=True, slots=True)
class StoredWorkitem:
    """A workitem row: key, UID, owner (stored transaction UID), state and dataset text."""

    workitem_key: int
    workitem_uid: str
    transaction_uid: str | None
    procedure_step_state: str
    dataset: str


@dataclass(frozen=True, slots=True)
class WorkitemIndex:
    """A workitem's searchable values, its dataset text (without the transaction UID, which
    only the row's column holds) and the text of its default search attributes."""

    values: SearchableValues
    dataset: str
    summary: str

    def columns(self) -> dict[str, Any]:
        v = self.values
        return {"procedure_step_state": v.procedure_step_state, "patient_name": v.patient_name,
                "patient_name_words": v.patient_name_words, "patient_id": v.patient_id,
                "scheduled_start_datetime": v.scheduled_start_datetime,
                "study_instance_uid": v.study_instance_uid, "dataset": self.dataset,
                "summary": self.summary}


def _to_workitem(row: Any) -> StoredWorkitem | None:
    if row is None:
        return None
    return StoredWorkitem(int(row["workitem_key"]), row["workitem_uid"], row["transaction_uid"],
                          row["procedure_step_state"], row["dataset"])


def get_workitem(conn: DbConn, partition_key: int, workitem_uid: str) -> StoredWorkitem | None:
    """The workitem with this UID in the partition, or None."""
    return _to_workitem(conn.run("get_workitem", partition_key=partition_key,
                                 workitem_uid=workitem_uid))


def lock_workitem(conn: DbConn, partition_key: int, workitem_uid: str) -> StoredWorkitem | None:
    """Like ``get_workitem``, inside a write transaction, with the row locked until it ends."""
    assert conn.in_transaction
    return _to_workitem(conn.run("lock_workitem", partition_key=partition_key,
                                 workitem_uid=workitem_uid))


def add_workitem(conn: DbConn, partition_key: int, workitem_uid: str, index: WorkitemIndex,
                 now: datetime) -> int:
    """Insert a workitem and its sequence values; the caller's transaction commits.
    A duplicate UID in the partition raises the driver's IntegrityError."""
    row = conn.run("add_workitem", partition_key=partition_key, workitem_uid=workitem_uid,
                   now=now, **index.columns())
    key = int(row["workitem_key"])
    _add_sequence_values(conn, partition_key, key, index)
    return key


def update_workitem(conn: DbConn, partition_key: int, workitem_key: int,
                    transaction_uid: str | None, index: WorkitemIndex, now: datetime) -> None:
    """Replace a (locked) workitem's dataset, owner and searchable values."""
    conn.run("update_workitem", workitem_key=workitem_key, transaction_uid=transaction_uid,
             now=now, **index.columns())
    conn.run("delete_workitem_sequence_values", workitem_key=workitem_key)
    _add_sequence_values(conn, partition_key, workitem_key, index)


def _add_sequence_values(conn: DbConn, partition_key: int, workitem_key: int,
                         index: WorkitemIndex) -> None:
    for path, value in index.values.sequence_values:
        conn.run("add_workitem_sequence_value", partition_key=partition_key,
                 workitem_key=workitem_key, tag_path=path, tag_value=value)


def build_search(conn: DbConn, partition_key: int, query: WorkitemQuery,
                 summaries: bool = False) -> tuple[str, list[Any]]:
    """The SELECT of one search page and its parameters (also for the benchmark's EXPLAIN):
    each row's dataset text, or with ``summaries`` its default search attributes' text where
    the row has it; and whether the text is the whole dataset (1) or not (0)."""
    sql = _Sql(conn.engine)
    sql.add("w.partition_key = ?", partition_key)
    for flt in query.filters:
        if isinstance(flt.condition, matching.Universal):
            continue
        if isinstance(flt.condition, matching.Fuzzy):  # each word starts a word of the name
            for word in flt.condition.words:
                _add_value_condition(sql, partition_key, flt.path,
                                     matching.Wildcard(word.replace("?", "") + "*"))
        elif flt.key.column is not None:
            sql.condition(f"w.{flt.key.column}", flt.condition)
        else:
            _add_value_condition(sql, partition_key, flt.path, flt.condition)
    columns = ("COALESCE(w.summary, w.dataset), CASE WHEN w.summary IS NULL THEN 1 ELSE 0 END"
               if summaries else "w.dataset, 1")
    text = (f"SELECT {columns} FROM workitems w WHERE {' AND '.join(sql.where)}"
            " ORDER BY w.workitem_key DESC LIMIT ? OFFSET ?")
    return text, sql.params + [query.limit, query.offset]


def _add_value_condition(sql: _Sql, partition_key: int, path: str,
                         condition: matching.Condition) -> None:
    """``EXISTS`` over the indexed values of ``path`` (any item, or any name word)."""
    inner = _Sql(sql.engine)
    inner.condition("v.tag_value", condition)
    sql.add("EXISTS (SELECT 1 FROM workitem_sequence_values v WHERE v.partition_key = ?"
            " AND v.workitem_key = w.workitem_key AND v.tag_path = ? AND "
            f"{' AND '.join(inner.where)})", partition_key, path, *inner.params)


def search(conn: DbConn, partition_key: int, query: WorkitemQuery,
           summaries: bool = False) -> list[tuple[str, bool]]:
    """One page of matching workitems, newest first: (text, whether it is the whole dataset),
    the text as ``build_search`` describes."""
    text, params = build_search(conn, partition_key, query, summaries)
    _, rows = conn.fetch_tuples(text, params)
    return [(found, bool(full)) for found, full in rows]

"""UPS-RS workitems (PS3.18 §11, PS3.4 Annex CC, reference-2.md §1): create, retrieve, update,
change state, request cancellation, search.

Each change reads the workitem's row locked (PostgreSQL ``FOR UPDATE``; SQLite's write
transaction), decides with the pure rules of ``dicomweb.ups``, and writes the new dataset and
its searchable values in the same transaction: two concurrent claims run one after the other,
so exactly one wins, and a refused request changes nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from ..dao import workitems as dao
from ..db import DbConn
from ..dicomweb import ups
from ..dicomweb.identifiers import validate_uid
from ..dicomweb.ups_dataset import DicomJson, dumps, parse_body
from ..dicomweb.ups_query import DEFAULT_RETURN_KEYS, parse_search, searchable_values
from ..errors import WorkitemStatusError
from ..models import Partition
from . import partitions as partition_service

WORKITEM_UID_NAME = "WorkitemInstanceUid"
TRANSACTION_UID_NAME = "TransactionUid"
#: How the transaction UID's key appears in stored text (rows written before it was left out).
TRANSACTION_UID_KEY = f'"{ups.TRANSACTION_UID}"'


@dataclass(frozen=True)
class Created:
    """A created workitem: its partition (created with it if new) and UID."""

    partition: Partition
    workitem_uid: str


def _now() -> tuple[datetime, str]:
    """Now (UTC) for the database and as a DICOM DT value."""
    now = datetime.now(timezone.utc)
    return now, now.strftime("%Y%m%d%H%M%S.%f")


def index_workitem(ds: DicomJson, state: str) -> dao.WorkitemIndex:
    """What the row stores: searchable values, the dataset without its transaction UID (the
    owner is the row's column) and the default search attributes, both sorted by tag."""
    ordered = dict(sorted(ups.without_transaction_uid(ds).items()))
    return dao.WorkitemIndex(searchable_values(ordered, state), dumps(ordered),
                             dumps(_returned(ordered, DEFAULT_RETURN_KEYS)))


def _returned(ds: DicomJson, keys: tuple[str, ...]) -> DicomJson:
    return {key: ds[key] for key in sorted(keys) if key in ds}


def _not_found() -> WorkitemStatusError:
    return WorkitemStatusError(404, ups.NOT_FOUND)


def create_workitem(conn: DbConn, partition: Partition, workitem_uid: str | None,
                    body: bytes) -> Created:
    """Create a SCHEDULED workitem; a partition that does not exist yet is created with it.

    Raises
    ------
    BadRequestError : unreadable body, or a payload UID that differs from ``workitem_uid``
    WorkitemStatusError : 400 for a failed requirement, 409 for a UID the partition has
    """
    ds = parse_body(body)
    when, now = _now()
    uid = validate_uid(ups.prepare_create(ds, workitem_uid, now), WORKITEM_UID_NAME)
    index = index_workitem(ds, ups.SCHEDULED)
    with conn.transaction(write=True):
        if partition.exists:
            assert partition.partition_key is not None
            if dao.get_workitem(conn, partition.partition_key, uid) is not None:
                raise WorkitemStatusError(409, ups.ALREADY_EXISTS)
        else:
            partition = partition_service.get_or_add_partition(conn, partition.partition_name)
        assert partition.partition_key is not None
        try:
            dao.add_workitem(conn, partition.partition_key, uid, index, when)
        except conn.engine.integrity_errors:  # created by a concurrent request just now
            raise WorkitemStatusError(409, ups.ALREADY_EXISTS) from None
    return Created(partition, uid)


def retrieve_workitem(conn: DbConn, partition_key: int, workitem_uid: str) -> str:
    """The workitem's dataset as DICOM JSON text, without its transaction UID."""
    row = dao.get_workitem(conn, partition_key, workitem_uid)
    if row is None:
        raise _not_found()
    if TRANSACTION_UID_KEY not in row.dataset:
        return row.dataset
    return dumps(ups.without_transaction_uid(json.loads(row.dataset)))


def update_workitem(conn: DbConn, partition_key: int, workitem_uid: str,
                    transaction_uid: str | None, body: bytes) -> None:
    """Merge the request's attributes into the workitem (reference-2.md §1.7)."""
    request = parse_body(body)
    when, now = _now()
    with conn.transaction(write=True):
        row = dao.lock_workitem(conn, partition_key, workitem_uid)
        state = ups.state_of(json.loads(row.dataset)) if row else None
        ups.check_update_allowed(state, row.transaction_uid if row else None, transaction_uid)
        assert row is not None and state is not None
        merged = ups.merge_update(json.loads(row.dataset), request, now)
        dao.update_workitem(conn, partition_key, row.workitem_key, row.transaction_uid,
                            index_workitem(merged, state), when)


def change_state(conn: DbConn, partition_key: int, workitem_uid: str, body: bytes) -> str | None:
    """Claim, complete or cancel (reference-2.md §1.5). Returns the warning of a request for the
    final state the workitem is already in (nothing changes), else None."""
    change = ups.parse_state_request(parse_body(body))
    validate_uid(change.transaction_uid, TRANSACTION_UID_NAME)
    when, _ = _now()
    with conn.transaction(write=True):
        row = dao.lock_workitem(conn, partition_key, workitem_uid)
        if row is None:
            raise _not_found()
        stored = json.loads(row.dataset)
        warning = ups.transition(ups.state_of(stored), row.transaction_uid, change)
        if warning is not None:
            return warning
        changed = ups.apply_state(stored, change)
        dao.update_workitem(conn, partition_key, row.workitem_key, change.transaction_uid,
                            index_workitem(changed, change.state), when)
    return None


def request_cancellation(conn: DbConn, partition_key: int, workitem_uid: str,
                         body: bytes) -> None:
    """Cancel a SCHEDULED workitem at a client's request (reference-2.md §1.6)."""
    request = parse_body(body)
    when, now = _now()
    with conn.transaction(write=True):
        row = dao.lock_workitem(conn, partition_key, workitem_uid)
        stored = json.loads(row.dataset) if row else {}
        ups.check_cancel_allowed(ups.state_of(stored) if row else None)
        assert row is not None
        canceled = ups.apply_cancel(stored, request, now)
        dao.update_workitem(conn, partition_key, row.workitem_key, row.transaction_uid,
                            index_workitem(canceled, ups.CANCELED), when)


def search_workitems(conn: DbConn, partition_key: int, args: Iterable[tuple[str, str]],
                     default_limit: int = 100, max_limit: int = 200) -> list[str]:
    """One page of matching workitems (newest first) as DICOM JSON texts, each with the
    default attributes, the filter and includefield attributes (or all), never the
    transaction UID."""
    query = parse_search(args, default_limit, max_limit)
    defaults_only = not query.include_all and set(query.return_keys) == set(DEFAULT_RETURN_KEYS)
    results = []
    for text, full in dao.search(conn, partition_key, query, summaries=defaults_only):
        if not full or query.include_all and TRANSACTION_UID_KEY not in text:
            results.append(text)  # returned as stored
        else:
            ds = ups.without_transaction_uid(json.loads(text))
            results.append(dumps(ds if query.include_all else _returned(ds, query.return_keys)))
    return results

"""STOW-RS: store instances (PS3.18 §10.5, reference.md §3).

Per instance (the reference's StoreOrchestrator, made single-phase by content addressing):
parse the spooled part (``dicomweb/part10.py``) -> convert its elements once
(``dicomweb/elements.py``) -> validate and build the index columns (``instance_index.py``) and
DICOM JSON -> make the file durable (blob store, by SHA-256) -> one transaction: partition
get-or-add, study/series upsert, instance, metadata, blob reference, change feed, extended query
tag values. Per-instance failures are results, not exceptions.
"""
from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

from pydicom.dataset import Dataset

from ..blobs import BlobStore, SpoolFile
from ..dao import instances as dao
from ..dao import store as store_dao
from ..db import DbConn
from ..dicomweb import part10, status
from ..dicomweb.elements import DECODE_ERRORS, convert_elements, raw_value, uid_value
from ..dicomweb.json_model import DEFER_SIZE, add_bulkdata_element, dumps, to_dicom_json
from ..errors import (DataStoreError, InstanceAlreadyExistsError, ObjectStoreError,
                      PartitionBeingDeletedError)
from ..models import Partition
from . import extended_query_tags, instance_index, maintenance
from . import partitions as partition_service
from .instance_index import Rejected, invalid_instance, unreadable
from .store_outcome import StoreOutcome, StoreResult, capture, reject

logger = logging.getLogger(__name__)

#: Bytes of a part kept in memory while it is spooled, so its header is parsed without reading
#: the file back (a CT or MR header is a few kB; a larger one is read from the file). Not more
#: than DEFER_SIZE: an element dcmread defers then never fits in the head.
HEAD_SIZE = min(64 * 1024, DEFER_SIZE)
#: Parts of one request that keep their head (the rest are parsed from their files).
HEADS_PER_REQUEST = 64
#: Parts stored together (one transaction); their datasets are held in memory meanwhile.
BATCH_SIZE = 50
_PUT_THREADS = 4
_T = TypeVar("_T")
#: Transactions a store tries when a concurrent delete removes its study (StudyRemovedError).
_ATTEMPTS = 3


@dataclass
class _Request:
    """What every part of one request shares; ``partition`` is replaced once found or
    created. ``partition_by_name``: not looked up yet (only its requested name is known)."""

    conn: DbConn
    blobs: BlobStore
    partition: Partition
    api_version: int
    study_instance_uid: str | None
    partition_by_name: bool = False


#: (dataset, spool, outcome, index rows, signature of the extended query tags validated by) of
#: a part that passed validation.
_Prepared = tuple[Dataset, SpoolFile, StoreOutcome, dao.NewInstance, str | None]


def store_instances(conn: DbConn, blobs: BlobStore, partition: Partition,
                    spools: Sequence[SpoolFile], api_version: int,
                    study_instance_uid: str | None = None,
                    partition_by_name: bool = False) -> StoreResult:
    """Store the parts of one request, in order; never raises for a bad instance.

    ``study_instance_uid``: the study the request stores into (parts of another fail with
    43264). A single part is checked, put and indexed in its own transaction. Several are
    stored together per batch of ``BATCH_SIZE`` parts: the files are fsynced in parallel and
    the batch's index rows are committed in one transaction (one commit instead of one per
    part). If that transaction fails (e.g. a concurrent store of the same UIDs), the batch's
    parts are stored one by one, as a single part is.

    ``partition_by_name``: ``partition`` has only the requested name; a single part's first
    statement finds the partition by it (no round trip of its own), several parts look it up
    first. PartitionBeingDeletedError (raised) when it is being deleted.
    """
    req = _Request(conn, blobs, partition, api_version, study_instance_uid, partition_by_name)
    outcomes = [StoreOutcome() for _ in spools]
    if len(spools) == 1:
        capture(outcomes[0], lambda: _store(req, *_prepare(req, spools[0], outcomes[0])))
    else:
        _look_up_partition(req)
        _store_parts(req, spools, outcomes)
    _look_up_partition(req)  # every part failed before its check: the partition as stored
    _log_summary(req.partition, outcomes)
    return StoreResult(req.partition, outcomes)


def _look_up_partition(req: _Request) -> None:
    """Find the partition by its requested name, unless done."""
    if req.partition_by_name:
        req.partition = partition_service.partition_for_store(req.conn,
                                                              req.partition.partition_name)
        req.partition_by_name = False


def _log_summary(partition: Partition, outcomes: list[StoreOutcome]) -> None:
    """One line per request, whatever its number of parts (per part lines are debug)."""
    failures = Counter(o.failure_reason for o in outcomes if o.failure_reason is not None)
    stored = len(outcomes) - sum(failures.values())
    logger.info("STOW of %d parts into partition %s: %d stored, %d failed%s", len(outcomes),
                partition.partition_name, stored, sum(failures.values()),
                "".join(f", {count} x {reason}" for reason, count in sorted(failures.items())))


def _store_parts(req: _Request, spools: Sequence[SpoolFile],
                 outcomes: list[StoreOutcome]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for first in range(0, len(spools), BATCH_SIZE):  # batches keep memory flat
        prepared: list[tuple[StoreOutcome, _Prepared]] = []
        for spool, outcome in zip(spools[first:first + BATCH_SIZE],
                                  outcomes[first:first + BATCH_SIZE]):
            item = capture(outcome, lambda: _prepare(req, spool, outcome))
            if item is None:
                continue
            uids = (outcome.study_instance_uid or "", outcome.series_instance_uid or "",
                    outcome.sop_instance_uid or "")
            if uids in seen:  # the same instance twice in one request: a duplicate
                reject(outcome, Rejected(status.SOP_INSTANCE_ALREADY_EXISTS))
                continue
            seen.add(uids)
            prepared.append((outcome, item))
        if prepared:
            _store_together(req, prepared)


def _prepare(req: _Request, spool: SpoolFile, outcome: StoreOutcome) -> _Prepared:
    """Read and validate a part; build its index rows and metadata. Raise Rejected."""
    try:
        ds, has_pixels = part10.read(spool.head, spool.size, spool.open)
    except part10.InvalidPart10Error as exc:
        raise Rejected(status.VALIDATION_FAILURE, [invalid_instance(str(exc))]) from None
    except DECODE_ERRORS as exc:
        logger.debug("Rejected an unreadable DICOM part: %s", exc)
        raise Rejected(status.VALIDATION_FAILURE, [invalid_instance(unreadable(exc))]) from None
    undecodable: dict[int, str] = {}
    raw_patient_id = raw_value(ds, instance_index.PATIENT_ID)
    elements = convert_elements(ds, undecodable)
    sop_class = elements.get(0x00080016)
    sop_instance = elements.get(0x00080018)
    outcome.sop_class_uid = uid_value(elements, 0x00080016) if sop_class else None
    outcome.sop_instance_uid = uid_value(elements, 0x00080018) if sop_instance else None
    valid = instance_index.validate(req.conn, ds, elements, req.api_version,
                                    req.study_instance_uid, undecodable, raw_patient_id)
    outcome.multiple_values = valid.multiple_values
    outcome.warning_reason = valid.warning_reason
    outcome.error_comments = valid.comments
    outcome.study_instance_uid = uid_value(elements, 0x0020000D)
    outcome.series_instance_uid = uid_value(elements, 0x0020000E)
    transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
    if transfer_syntax == part10.IMPLICIT_VR_LITTLE_ENDIAN:
        outcome.warning_reason = status.DATASET_DOES_NOT_MATCH_SOP_CLASS

    study, series, instance = instance_index.index_columns(elements, valid.dropped)
    try:
        metadata = to_dicom_json(ds, exclude=valid.dropped)
    except Exception as exc:  # an element pydicom cannot express in JSON
        logger.debug("Rejected a part whose metadata cannot be encoded: %s", exc)
        raise Rejected(status.VALIDATION_FAILURE, [invalid_instance(
            "An element cannot be written as DICOM JSON.")]) from None
    if has_pixels:
        add_bulkdata_element(metadata, part10.PIXEL_DATA_TAG, part10.pixel_vr(ds))
    return ds, spool, outcome, dao.NewInstance(
        partition_key=0, study=study, series=series,
        sop_instance_uid=outcome.sop_instance_uid or "",
        sop_class_uid=outcome.sop_class_uid, instance_number=instance["instance_number"],
        transfer_syntax_uid=transfer_syntax,
        number_of_frames=instance_index.number_of_frames(ds, has_pixels),
        blob_key=spool.key, blob_size=spool.size,
        metadata_json=dumps(metadata)), valid.tag_signature


def _store(req: _Request, ds: Dataset, spool: SpoolFile, outcome: StoreOutcome,
           new: dao.NewInstance, tag_signature: str | None) -> None:
    """Make the file durable, then write the index rows in one transaction.

    The duplicate check comes first so a duplicate never writes a file. Where write
    transactions run concurrently (PostgreSQL) it runs inside the write transaction (a SELECT
    takes no lock; this saves two round trips); where they are serialized (SQLite) outside,
    because BEGIN IMMEDIATE would hold the database's write lock during the fsync.
    A duplicate that races past the check fails on the unique key (45070). When the extended
    query tags changed since the part was validated (a tag added or deleted through another
    process or node), the part is validated again by the current tags and the transaction
    retried.
    """
    conn = req.conn
    check_in_transaction = not conn.engine.serialized_writes
    if not check_in_transaction:
        _check_not_stored(req, new)
        _check_quota(req, new)
        _put(req, spool)
    for attempt in range(_ATTEMPTS):
        now = datetime.now(timezone.utc)
        try:
            with conn.transaction(write=True, begin_with_next_statement=True):
                if check_in_transaction:  # with the tag lock: no round trip of its own
                    _check_not_stored(req, new, lock_tags=True)
                    _check_quota(req, new)
                    _reserve_and_put(req, [spool], now)
                partition = req.partition
                if not partition.exists:
                    partition = partition_service.get_or_add_partition(
                        conn, partition.partition_name)
                _check_quota(req, new, lock=True)
                keys = _add_rows(req, partition, ds, spool, new, now, tag_signature)
                _ensure_files(req, [spool])
            break
        except extended_query_tags.ExtendedQueryTagsChanged:
            if attempt + 1 == _ATTEMPTS:
                logger.warning("Storing instance %s failed: the extended query tags kept "
                               "changing", new.sop_instance_uid)
                raise Rejected(status.PROCESSING_FAILURE) from None
            ds, spool, outcome, new, tag_signature = _prepare(req, spool, outcome)
        except dao.StudyRemovedError:
            if attempt + 1 == _ATTEMPTS:
                logger.warning("Storing instance %s failed: its study kept being deleted",
                               new.sop_instance_uid)
                raise Rejected(status.PROCESSING_FAILURE) from None
        except InstanceAlreadyExistsError:
            raise Rejected(status.SOP_INSTANCE_ALREADY_EXISTS) from None
        except PartitionBeingDeletedError:  # deleted since the request resolved it (issue #20)
            if req.partition.deleting:  # found so by the check: the request's answer
                raise
            logger.warning("Storing instance %s failed: its partition is being deleted",
                           new.sop_instance_uid)
            raise Rejected(status.PROCESSING_FAILURE) from None
        except (Rejected, DataStoreError):
            raise
        except Exception:
            logger.exception("Storing instance %s failed", new.sop_instance_uid)
            raise Rejected(status.PROCESSING_FAILURE) from None
    req.partition = partition
    logger.debug("Stored instance %s in partition %s (watermark %s)", new.sop_instance_uid,
                partition.partition_name, keys.watermark)
    maintenance.note_stored(conn, 1)


class _NothingPut(Exception):
    """Every put of a batch failed (each part's outcome says why)."""


def _store_together(req: _Request, prepared: list[tuple[StoreOutcome, _Prepared]]) -> None:
    """Check, put and index a batch of validated parts (see ``store_instances``)."""
    conn = req.conn
    _check_none_stored(req, prepared)  # duplicates never write a file
    ready = _admitted(req, [(o, i) for o, i in prepared if o.failure_reason is None])
    reserve = _reserves(req)
    if not reserve:
        ready = _put_parts(req, ready)
    if not ready:
        return
    now = datetime.now(timezone.utc)
    partition = req.partition
    try:
        with conn.transaction(write=True, begin_with_next_statement=True):
            if reserve:
                store_dao.reserve_blobs(conn, {i[1].key: i[1].size for _, i in ready}, now)
                ready = _put_parts(req, ready)
                if not ready:
                    raise _NothingPut()  # roll the reservations back
            # The batch's studies, locked in one global order before any row is written: two
            # concurrent requests into overlapping studies then wait for each other instead of
            # deadlocking on the study and series rows, while instances are indexed in request
            # order (so their watermarks, and newest-first results, follow the upload). Two
            # requests racing with the same instances can still deadlock on the unique key;
            # PostgreSQL aborts one and its parts are stored one by one.
            store_dao.lock_studies_for_store(conn, partition.partition_name,
                                             [o.study_instance_uid or "" for o, _ in ready])
            admitted = _admitted(req, ready, lock=True)
            for _, (ds, spool, _, new, tag_signature) in admitted:
                if not partition.exists:
                    partition = partition_service.get_or_add_partition(
                        conn, partition.partition_name)
                _add_rows(req, partition, ds, spool, new, now, tag_signature)
            _ensure_files(req, [item[1] for _, item in admitted])
    except ObjectStoreError:  # a refused put: the parts not started were not sent (503)
        raise
    except _NothingPut:
        return
    except Exception as exc:  # a duplicate raced past the check, a deadlock, a bad row, the
        # extended query tags changed: one by one (a database that is down fails there too,
        # with 503)
        logger.info("Storing %d instances together failed (%s); storing them one by one",
                    len(ready), type(exc).__name__)
        for outcome, item in ready:
            if outcome.failure_reason is None:  # not refused by the quota
                capture(outcome, lambda: _store(req, *item))
        return
    req.partition = partition
    logger.debug("Stored %d instances in partition %s", len(admitted),
                 partition.partition_name)
    maintenance.note_stored(conn, len(admitted))


def _add_rows(req: _Request, partition: Partition, ds: Dataset, spool: SpoolFile,
              new: dao.NewInstance, now: datetime, tag_signature: str | None
              ) -> dao.InstanceKeys:
    """The index rows of one instance, inside the caller's write transaction (which then
    calls ``_ensure_files``)."""
    conn = req.conn
    row = dao.NewInstance(**{**_as_dict(new), "partition_key": partition.partition_key})
    keys = dao.add_instance(conn, row, now)  # with the name words for QIDO fuzzy matching
    extended_query_tags.index_instance(conn, ds, keys, tag_signature)  # issue #7
    return keys


def _reserves(req: _Request) -> bool:
    """Whether the files' rows are held before their puts (``_reserve_and_put``) instead of
    the files checked after (``_ensure_files``): where a check is a request (object storage)
    and the database has row locks (PostgreSQL)."""
    return not req.blobs.cheap_exists and not req.conn.engine.serialized_writes


def _reserve_and_put(req: _Request, spools: list[SpoolFile], now: datetime) -> None:
    """Put files inside the write transaction; with ``_reserves``, after holding their rows
    (``store_dao.reserve_blobs``): a concurrent removal of a released file or the sweep waits
    for this commit, so an object put now is still there when its reference commits."""
    if _reserves(req):
        store_dao.reserve_blobs(req.conn, {spool.key: spool.size for spool in spools}, now)
    for spool in spools:
        _put(req, spool)


def _put_parts(req: _Request, ready: list[tuple[StoreOutcome, _Prepared]]
               ) -> list[tuple[StoreOutcome, _Prepared]]:
    """Put the files of a batch's parts in parallel; the parts whose put succeeded."""
    _in_parallel(lambda pair: capture(pair[0], lambda: _put(req, pair[1][1])), ready)
    return [(o, i) for o, i in ready if o.failure_reason is None]


def _ensure_files(req: _Request, spools: list[SpoolFile]) -> None:
    """Put again the files a concurrent delete removed between their put and the lock their
    rows now hold (``add_instance``): a shared file whose last reference went away. Not
    needed (nothing to do) with ``_reserves``: the rows were held before the puts. Where the
    check is a request and rows cannot be held (SQLite), a batch's checks run in parallel."""
    if _reserves(req):
        return

    def ensure(spool: SpoolFile) -> None:
        if not req.blobs.exists(spool.key):
            req.blobs.put(spool)
    if req.blobs.cheap_exists or len(spools) == 1:
        for spool in spools:
            ensure(spool)
        return
    _in_parallel(ensure, spools)


def _in_parallel(work: Callable[[_T], Any], items: Sequence[_T]) -> None:
    """``work`` on every item, ``_PUT_THREADS`` at a time (fsync and object store requests
    release the GIL). The first error is raised once the running items end; the items not
    started then never start (a store that refuses one part is not sent the other 49, each
    retried by botocore, before the request answers 503)."""
    pool = ThreadPoolExecutor(max_workers=_PUT_THREADS)
    try:
        for done in as_completed([pool.submit(work, item) for item in items]):
            done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _check_not_stored(req: _Request, new: dao.NewInstance, lock_tags: bool = False) -> None:
    """Reject (45070, or 45071 for a row still being created) UIDs the partition already has.

    ``lock_tags``: take the extended query tags' shared lock too (see dao.get_instance_status).
    """
    partition = req.partition
    if req.partition_by_name:  # found by name in the same statement
        found, existing = dao.get_instance_status_in_partition_named(
            req.conn, partition.partition_name, *_uids(new), lock_tags=lock_tags)
        req.partition, req.partition_by_name = found or partition, False
        if found is not None and found.deleting:
            raise PartitionBeingDeletedError(found.partition_name)
    elif not partition.exists:
        return
    else:
        existing = dao.get_instance_status(req.conn, partition.partition_key, *_uids(new),
                                           lock_tags=lock_tags)
    if existing is not None:
        raise _already_stored(existing)


def _check_none_stored(req: _Request, prepared: list[tuple[StoreOutcome, _Prepared]]) -> None:
    """``_check_not_stored`` for a batch, in one query; rejects the parts already stored."""
    if not req.partition.exists:
        return
    existing = dao.get_instance_statuses(req.conn, req.partition.partition_key,
                                         [_uids(item[3]) for _, item in prepared])
    for outcome, item in prepared:
        found = existing.get(_uids(item[3]))
        if found is not None:
            reject(outcome, _already_stored(found))


def _check_quota(req: _Request, new: dao.NewInstance, lock: bool = False) -> None:
    """Reject (42752) an instance its partition's quota does not admit (issue #20)."""
    if not partition_service.within_quota(req.conn, req.partition, [new.blob_size], lock)[0]:
        raise Rejected(status.OUT_OF_RESOURCES)


def _admitted(req: _Request, ready: list[tuple[StoreOutcome, _Prepared]],
              lock: bool = False) -> list[tuple[StoreOutcome, _Prepared]]:
    """The parts of a batch the partition's quota admits, in order; the others fail with
    42752. Checked before their files are written, and again under the quota lock in the
    batch's transaction (``lock``), where a concurrent store may have taken the room."""
    fits = partition_service.within_quota(req.conn, req.partition,
                                          [item[3].blob_size for _, item in ready], lock)
    for (outcome, _), admitted in zip(ready, fits):
        if not admitted:
            reject(outcome, Rejected(status.OUT_OF_RESOURCES))
    return [pair for pair, admitted in zip(ready, fits) if admitted]


def _already_stored(instance_status: int) -> Rejected:
    """45070 for a stored instance, 45071 for a row still being created."""
    return Rejected(status.SOP_INSTANCE_ALREADY_EXISTS if instance_status == dao.STATUS_CREATED
                    else status.PENDING_SOP_INSTANCE)


def _uids(new: dao.NewInstance) -> tuple[str, str, str]:
    """(study, series, SOP instance) UIDs of a part's index rows."""
    return (new.study["study_instance_uid"], new.series["series_instance_uid"],
            new.sop_instance_uid)


def _put(req: _Request, spool: SpoolFile) -> None:
    try:
        req.blobs.put(spool)  # durable before any index row can point at it
    except OSError:
        logger.exception("Could not write blob %s", spool.key)
        raise Rejected(status.PROCESSING_FAILURE) from None


def _as_dict(new: dao.NewInstance) -> dict[str, Any]:
    return {name: getattr(new, name) for name in new.__dataclass_fields__}

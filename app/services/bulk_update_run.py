"""The ``update`` operation (reference-2.md §2.3): rewrite every instance of the listed studies
with the change, one study at a time, in request order.

Per study, crash-safe by ordering:

1. every instance's new file is written and made durable (content-addressed, so a new blob;
   nothing references it yet, and a crash here leaves only files the blob sweep removes);
2. one write transaction, holding the study's lock (so STOW and DELETE of the study wait):
   each instance gets a new watermark, its new file, its metadata patched, a change-feed
   ``Update`` entry, its extended query tag errors and the changed tags' values; the study
   row's columns; and the operation's progress (``checkpoint``: the lease);
3. after the commit, the files of replaced intermediate versions nothing references any more
   are removed (as a DELETE's are).

Readers therefore see a study either entirely as it was or entirely updated, never as two
patients. A node dying mid-study loses nothing: its lease expires, another worker claims the
operation and starts again at the first study not committed (its files are rewritten to the
same bytes, so the same blobs). An instance whose file cannot be rewritten fails its study
(nothing of it is committed); the other studies still run, and the operation ends ``failed``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from pydicom.dataset import Dataset

from ..blobs import BlobStore
from ..dao import bulk_update as dao
from ..dao import operations as operations_dao
from ..dao.instances import InstanceKeys, next_watermark
from ..dao.query import index_study_name_words
from ..db import DbConn
from ..dicomweb import bulk_update as rules
from ..errors import DataStoreError
from . import extended_query_tags
from .blob_sweep import remove_released_files
from .instance_index import index_columns
from .operation_runs import LeaseLostError, checkpoint, finish, stop_requested

logger = logging.getLogger(__name__)

#: Instance errors listed per failed study (the reference's limit).
MAX_INSTANCE_ERRORS = 5
STUDY_FAILED = "Failed to update instances for study {0}"
INSTANCE_FAILED = ("Failed to update instance. PartitionKey: {0}, StudyInstanceUID: {1}, "
                   "SeriesInstanceUID: {2}, SOPInstanceUID: {3}")
MORE_FAILED = ("There are more instances failed to update than listed above. Please check the "
               "diagnostics logs for the complete list.")
#: Study columns a change may set (reference-2.md §2.3 step 3); the rest are left alone.
_STUDY_COLUMNS = ("patient_id", "patient_name", "patient_name_words",
                  "referring_physician_name", "referring_physician_name_words",
                  "study_description", "accession_number", "patient_birth_date",
                  "patient_id_folded", "patient_name_folded",
                  "referring_physician_name_folded", "study_description_folded",
                  "accession_number_folded")
#: Transactions tried per study (a deadlock with a concurrent store aborts one).
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class _NewFile:
    """An instance's rewritten file, made from its version ``watermark``."""

    watermark: int
    blob_key: str
    blob_size: int
    charset: str | None


class _StudyFailed(Exception):
    def __init__(self, failed: list[dao.InstanceVersion]):
        super().__init__(f"{len(failed)} instance(s) failed")
        self.failed = failed


def run_bulk_update(conn: DbConn, operation: operations_dao.Operation, owner: str,
                    settings: Any, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Run (or resume) an update operation to completion (``operation_runs``: a runner)."""
    blobs: BlobStore = settings.blobs
    payload = dict(operation.payload)
    uids = payload["studyInstanceUids"]
    change = rules.prepare_change(Dataset.from_json(payload["changeDataset"]))
    while payload["next"] < len(uids):
        stop_requested(operation, should_stop)
        payload, released = _update_study(conn, blobs, operation, owner, payload, change)
        if released:
            remove_released_files(conn, blobs, released)
    with conn.transaction(write=True):
        status = operations_dao.FAILED if payload["errors"] else operations_dao.SUCCEEDED
        finish(conn, operation, owner, results(payload), status)
    logger.info("Update %s finished (%s): %s", operation.operation_id, status, results(payload))


def results(payload: dict[str, Any]) -> dict[str, Any]:
    """The operation's ``results`` (reference-2.md §2.3); ``errors`` only when there are any."""
    found = {"studyProcessed": payload["next"], "studyUpdated": payload["studyUpdated"],
             "studyFailed": payload["studyFailed"],
             "instanceUpdated": payload["instanceUpdated"]}
    if payload["errors"]:
        found["errors"] = payload["errors"]
    return found


def _percent(payload: dict[str, Any]) -> int:
    return payload["next"] * 100 // max(len(payload["studyInstanceUids"]), 1)


def _update_study(conn: DbConn, blobs: BlobStore, operation: operations_dao.Operation,
                  owner: str, payload: dict[str, Any],
                  change: rules.Change) -> tuple[dict[str, Any], list[str]]:
    """Update the next study; return the payload after it (committed) and released files."""
    uid = payload["studyInstanceUids"][payload["next"]]
    partition_key = int(payload["partitionKey"])
    instances = dao.list_instances(conn, partition_key, uid)
    new_files: dict[int, _NewFile] = {}
    failed = []
    for instance in instances:
        try:
            new_files[instance.instance_key] = _rewrite(blobs, instance, change)
        except Exception:
            logger.exception("Update %s: instance %s of study %s failed",
                             operation.operation_id, instance.sop_instance_uid, uid)
            failed.append(instance)
    if failed:
        return _record_failure(conn, operation, owner, payload, uid, failed), []
    for attempt in range(_ATTEMPTS):
        after = dict(payload)
        try:
            with conn.transaction(write=True):
                released = _swap_study(conn, blobs, partition_key, uid, change, new_files,
                                       after)
                after["next"] += 1
                checkpoint(conn, operation, owner, _percent(after), after)
            return after, released
        except (LeaseLostError, DataStoreError):
            raise
        except _StudyFailed as exc:
            return _record_failure(conn, operation, owner, payload, uid, exc.failed), []
        except Exception:
            logger.exception("Update %s: study %s, attempt %d failed", operation.operation_id,
                             uid, attempt + 1)
    return _record_failure(conn, operation, owner, payload, uid, []), []


def _swap_study(conn: DbConn, blobs: BlobStore, partition_key: int, uid: str,
                change: rules.Change, new_files: dict[int, _NewFile],
                payload: dict[str, Any]) -> list[str]:
    """Inside the study's write transaction: make every instance's new version current;
    count it in ``payload``. Returns the files released."""
    study_key = dao.lock_study(conn, partition_key, uid)
    if study_key is None:
        return []  # no instances (any more): processed, neither updated nor failed
    now = datetime.now(timezone.utc)
    released: list[str] = []
    instances = dao.list_instances(conn, partition_key, uid)  # under the lock: current
    change_ds = change.dataset()
    for instance in instances:
        new = new_files.get(instance.instance_key)
        if new is None or new.watermark != instance.watermark:
            new = _rewrite_or_fail(blobs, instance, change)  # stored since: written now
        text = dao.get_metadata(conn, instance.watermark)
        if text is None:
            raise _StudyFailed([instance])
        watermark = next_watermark(conn)
        released += dao.replace_version(
            conn, partition_key, uid, instance, watermark, new.blob_key, new.blob_size,
            rules.patch_metadata(text, change, new.charset), now)
        if not blobs.exists(new.blob_key):
            # A delete released the same bytes and removed the file before this transaction
            # locked its row (as a STOW of the same bytes does): write it again.
            _rewrite_or_fail(blobs, instance, change)
        extended_query_tags.index_instance(conn, change_ds, InstanceKeys(
            partition_key, study_key, instance.series_key, instance.instance_key, watermark))
    if instances:
        columns = _study_columns(change, uid)
        dao.update_study(conn, study_key, columns)
        index_study_name_words(conn, partition_key, study_key, columns)
        payload["studyUpdated"] += 1
        payload["instanceUpdated"] += len(instances)
    return released


def _rewrite_or_fail(blobs: BlobStore, instance: dao.InstanceVersion,
                     change: rules.Change) -> _NewFile:
    try:
        return _rewrite(blobs, instance, change)
    except Exception:
        logger.exception("Instance %s failed", instance.sop_instance_uid)
        raise _StudyFailed([instance]) from None


def _study_columns(change: rules.Change, uid: str) -> dict[str, Any]:
    """The study columns the change sets; None for the others and for empty values (the
    reference keeps the old value: reference-2.md §2.1)."""
    ds = change.dataset()
    ds.StudyInstanceUID = ds.SeriesInstanceUID = uid  # the UIDs index_columns reads
    study, _, _ = index_columns(ds, set())
    return {column: (study.get(column) or None) for column in _STUDY_COLUMNS}


def _rewrite(blobs: BlobStore, instance: dao.InstanceVersion, change: rules.Change) -> _NewFile:
    """Write the instance's current file with the change as a new, durable blob."""
    with blobs.open_seekable(instance.blob_key, instance.blob_size) as source, \
            blobs.spool() as spool:
        charset = rules.rewrite(source, spool.write, change)
        spool.finish()
        blobs.put(spool)
        return _NewFile(instance.watermark, spool.key, spool.size, charset)


def _record_failure(conn: DbConn, operation: operations_dao.Operation, owner: str,
                    payload: dict[str, Any], uid: str,
                    failed: list[dao.InstanceVersion]) -> dict[str, Any]:
    """Count the study as failed, with the reference's errors; commit that as progress."""
    after = dict(payload)
    errors = list(after["errors"]) + [STUDY_FAILED.format(uid)]
    errors += [INSTANCE_FAILED.format(after["partitionName"], uid, i.series_instance_uid,
                                      i.sop_instance_uid) for i in failed[:MAX_INSTANCE_ERRORS]]
    if len(failed) > MAX_INSTANCE_ERRORS:
        errors.append(MORE_FAILED)
    after.update(errors=errors, studyFailed=after["studyFailed"] + 1, next=after["next"] + 1)
    with conn.transaction(write=True):
        checkpoint(conn, operation, owner, _percent(after), after)
    return after

"""DELETE of a study, series or instance (PS3.18 has none; reference.md §6, decisions: issue #6).

One write transaction per request, set-based whatever the size of the study:

1. lock the study row (PostgreSQL ``FOR UPDATE``; STOW's study upsert takes the same lock, so a
   concurrent STOW of the study either commits before the delete sees the study, or after it);
2. mark the instances in scope ``status = 2``; nothing marked -> 404 at the requested level;
3. remove everything hanging off them and the rows themselves (``dao.delete.delete_marked``):
   change-feed Delete entries, earlier entries set to "Deleted", extended query tag values and
   errors, metadata, file references (an updated instance's original file and metadata too:
   bulk update), empty series and study;
4. recompute the remaining study/series "latest wins" columns from the remaining instances;
5. commit; the rows of files whose reference count reached zero stay, released (count 0).
6. remove those files after the commit (``blob_sweep.remove_released_files``): each under its
   row's lock, re-checked, row and file removed together. A crash before the commit removes
   nothing; one after it leaves released rows that the blob sweep finishes. STOW writes the
   file before it takes the file's row lock and re-puts it when it vanished (in object
   storage on PostgreSQL it holds the row before the put instead: the removal waits), so a
   store of the same bytes racing with the removal never leaves an instance without its file.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Iterator

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from .. import metrics
from ..blobs import BlobStore
from ..dao import delete as dao
from ..db import DbConn
from ..dicomweb.tags import INDEXED_ATTRIBUTES, person_name_words, tag_path
from ..errors import InstanceNotFoundError, SeriesNotFoundError, StudyNotFoundError
from ..models import Partition
# The store's own mapping from a dataset to index columns, so a recomputed row is exactly what
# storing the remaining instances again would give.
from .blob_sweep import remove_released_files
from .instance_index import add_folded_columns, index_columns

logger = logging.getLogger(__name__)

_STUDY_COLUMNS = tuple(column for level, column in INDEXED_ATTRIBUTES.values()
                       if level == "study" and column != "study_instance_uid")
_SERIES_COLUMNS = tuple(column for level, column in INDEXED_ATTRIBUTES.values()
                        if level == "series" and column != "series_instance_uid")
_INDEXED_PATHS = frozenset(tag_path(tag_for_keyword(k)) for k in INDEXED_ATTRIBUTES)
_PAGE = 500


def delete_study(conn: DbConn, blobs: BlobStore, partition: Partition,
                 study_instance_uid: str) -> int:
    """Delete a study; return the number of instances deleted. Raises StudyNotFoundError."""
    return _delete(conn, blobs, partition, study_instance_uid, None, None)


def delete_series(conn: DbConn, blobs: BlobStore, partition: Partition, study_instance_uid: str,
                  series_instance_uid: str) -> int:
    """Delete a series; return the number of instances deleted. Raises SeriesNotFoundError."""
    return _delete(conn, blobs, partition, study_instance_uid, series_instance_uid, None)


def delete_instance(conn: DbConn, blobs: BlobStore, partition: Partition,
                    study_instance_uid: str, series_instance_uid: str,
                    sop_instance_uid: str) -> int:
    """Delete an instance; return 1. Raises InstanceNotFoundError."""
    return _delete(conn, blobs, partition, study_instance_uid, series_instance_uid,
                   sop_instance_uid)


def _not_found(series_instance_uid: str | None, sop_instance_uid: str | None) -> Exception:
    # The reference reports the level that was asked for (SqlIndexDataStore: 50404 mapping).
    if sop_instance_uid is not None:
        return InstanceNotFoundError()
    if series_instance_uid is not None:
        return SeriesNotFoundError()
    return StudyNotFoundError()


def _delete(conn: DbConn, blobs: BlobStore, partition: Partition, study_instance_uid: str,
            series_instance_uid: str | None, sop_instance_uid: str | None) -> int:
    if not partition.exists:
        raise _not_found(series_instance_uid, sop_instance_uid)
    partition_key = int(partition.partition_key)  # type: ignore[arg-type]
    with conn.transaction(write=True):
        study_key = dao.lock_study(conn, partition_key, study_instance_uid)
        if study_key is None:
            raise _not_found(series_instance_uid, sop_instance_uid)
        now = datetime.now(timezone.utc)  # after the lock: after any STOW it waited for
        if sop_instance_uid is not None:
            count = dao.mark_instance(conn, partition_key, study_instance_uid,
                                      series_instance_uid or "", sop_instance_uid)
        elif series_instance_uid is not None:
            series_key = dao.get_series_key(conn, partition_key, study_key,
                                            series_instance_uid)
            count = 0 if series_key is None else dao.mark_series(conn, partition_key,
                                                                 series_key)
        else:
            count = dao.mark_study(conn, partition_key, study_key)
        if count == 0:
            raise _not_found(series_instance_uid, sop_instance_uid)
        deleted = dao.delete_marked(conn, partition_key, study_key, count, now)
        if not deleted.study_removed:
            remaining_series = None
            if sop_instance_uid is not None:
                remaining_series = dao.get_series_key(conn, partition_key, study_key,
                                                      series_instance_uid or "")
            recompute_columns(conn, study_key, remaining_series)
    _, freed = remove_released_files(conn, blobs, deleted.released_blob_keys)
    metrics.instances("deleted", partition.partition_name, deleted.instances, freed)
    logger.info("Deleted %s instance(s) of study %s in partition %s", deleted.instances,
                study_instance_uid, partition.partition_name)
    return deleted.instances


def _columns_of(dataset_json: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The study and series index columns the store would compute for this stored JSON."""
    stored = json.loads(dataset_json)
    ds = Dataset.from_json({path: stored[path] for path in _INDEXED_PATHS if path in stored})
    study, series, _ = index_columns(ds, set())
    return study, series


def _remaining_newest_first(conn: DbConn, study_key: int) -> Iterator[dao.RemainingInstance]:
    """The study's remaining instances, newest first, in pages that grow (1, 10, 100, ...):
    the newest instance usually has every value."""
    before, size = 2 ** 62, 1
    while True:
        page = dao.list_remaining_instances(conn, study_key, before, size)
        yield from page
        if len(page) < size:
            return
        before, size = page[-1].watermark, min(size * 10, _PAGE)


def recompute_columns(conn: DbConn, study_key: int, series_key: int | None) -> None:
    """Recompute the "latest wins" columns of a study (and one series) from what remains.

    A column's value is that of the newest remaining instance that has one, as if the remaining
    instances had been stored again in their original order. Columns that are empty now stay
    empty (no instance ever had a value), so the scan stops as soon as every non-empty column is
    found again: usually after the newest instance.
    """
    study_row = dao.get_study_columns(conn, study_key)
    series_row = dao.get_series_columns(conn, series_key) if series_key is not None else {}
    wanted_study = {c for c in _STUDY_COLUMNS if study_row.get(c) not in (None, "")}
    wanted_series = {c for c in _SERIES_COLUMNS if series_row.get(c) is not None}
    found_study: dict[str, Any] = {}
    found_series: dict[str, Any] = {}
    for instance in _remaining_newest_first(conn, study_key):
        if not (wanted_study - found_study.keys() or wanted_series - found_series.keys()):
            break
        try:
            study, series = _columns_of(instance.dataset)
        except (ValueError, KeyError, TypeError, AttributeError):  # unreadable stored JSON
            logger.warning("Skipped unreadable metadata of watermark %s", instance.watermark)
            continue
        for column in wanted_study - found_study.keys():
            if study.get(column) not in (None, ""):
                found_study[column] = study[column]
        if instance.series_key == series_key:
            for column in wanted_series - found_series.keys():
                if series.get(column) is not None:
                    found_series[column] = series[column]
    new_study = {c: found_study.get(c) for c in _STUDY_COLUMNS}
    new_study["patient_id"] = new_study["patient_id"] or ""
    new_study["patient_name_words"] = person_name_words(new_study["patient_name"])
    new_study["referring_physician_name_words"] = person_name_words(
        new_study["referring_physician_name"])
    new_series = {c: found_series.get(c) for c in _SERIES_COLUMNS}
    add_folded_columns(new_study, new_series)
    if any(study_row.get(c) != v for c, v in new_study.items()):
        dao.update_study_columns(conn, study_key, new_study)
    if series_key is not None:
        if any(series_row.get(c) != v for c, v in new_series.items()):
            dao.update_series_columns(conn, series_key, new_series)

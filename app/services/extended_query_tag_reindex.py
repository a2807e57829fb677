"""Re-indexing existing instances for extended query tags being added (the `reindex` operation).

The worker claims the operation (app/services/operations.py) and calls `reindex` (its runner,
operation_runs.py), which reads the instances in watermark order, one batch per transaction,
and writes their tag values and errors; `release_tags` gives the tags back when the operation
fails.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from ..dao import extended_query_tags as dao
from ..dao import operations as operations_dao
from ..dao.instances import InstanceKeys
from ..db import DbConn
from . import extended_query_tag_values as values
from .operation_runs import checkpoint, finish, stop_requested

logger = logging.getLogger(__name__)


def _index_batch(tags: list[values.IndexedTag], rows: list[Any]
                 ) -> tuple[list[dao.TagValue], list[dao.TagError]]:
    found_rows: list[dao.TagValue] = []
    errors: list[dao.TagError] = []
    needles = [f'"{tag.json_key}"' for tag in tags]
    for row in rows:
        text = row["dataset"]
        if not any(needle in text for needle in needles):
            continue  # cheap pre-filter: none of the tags occurs in this instance
        dataset = json.loads(text)
        keys = InstanceKeys(int(row["partition_key"]), int(row["study_key"]),
                            int(row["series_key"]), int(row["instance_key"]),
                            int(row["watermark"]))
        for tag in tags:
            found = values.values_from_json(tag, dataset)
            if found is None:
                continue
            try:
                normalized = values.check_value(tag, *found)
            except values.InvalidTagValueError as exc:
                errors.append(dao.TagError(
                    tag.definition.tag_key, keys.partition_key, keys.watermark,
                    row["study_instance_uid"], row["series_instance_uid"],
                    row["sop_instance_uid"], values.error_message(exc)))
                continue
            if normalized is not None:
                found_rows.append(values.value_row(tag, keys, *normalized))
    return found_rows, errors


def reindex(conn: DbConn, operation: operations_dao.Operation, owner: str, settings: Any,
            should_stop: Callable[[], bool] = lambda: False) -> None:
    """Run (or resume) a re-index operation to completion.

    Raises LeaseLostError when another worker took it over, OperationInterrupted when
    ``should_stop()`` turns true between batches.
    """
    operation_id = operation.operation_id
    payload = dict(operation.payload)
    tags = [t for t in (dao.get_tag_by_key(conn, int(k)) for k in payload.get("tagKeys", []))
            if t is not None and t.tag_status == dao.STATUS_ADDING
            and t.operation_id == operation_id]
    prepared = values.prepare(tags)
    if payload.get("total") is None:
        payload["total"] = dao.count_instances_to_reindex(conn)
    total = max(int(payload["total"]), 1)
    after = int(payload.get("afterWatermark") or 0)
    processed = int(payload.get("processed") or 0)
    while prepared:
        stop_requested(operation, should_stop)
        rows = dao.list_instances_to_reindex(conn, after, settings.reindex_batch_size)
        if not rows:
            break
        found, errors = _index_batch(prepared, rows)
        now = datetime.now(timezone.utc)
        with conn.transaction(write=True):
            # Instances deleted since the batch was read get no values and no errors.
            live = dao.lock_live_instances(conn, [int(row["watermark"]) for row in rows])
            found = [value for value in found if value.keys[5] in live]
            errors = [error for error in errors if error.watermark in live]
            dao.upsert_values(conn, found)
            dao.add_errors(conn, errors, now)
            after, processed = int(rows[-1]["watermark"]), processed + len(rows)
            payload.update(afterWatermark=after, processed=processed)
            checkpoint(conn, operation, owner, processed * 100 // total, payload)
    with conn.transaction(write=True):
        for tag in tags:
            count = dao.complete_tag(conn, tag.tag_key, operation_id)
            if count:
                logger.info("Extended query tag %s: %s instance(s) failed to index; querying "
                            "disabled", tag.tag_path, count)
        finish(conn, operation, owner)
    logger.info("Re-index %s finished: %s instance(s)", operation_id, processed)


def release_tags(conn: DbConn, operation: operations_dao.Operation) -> None:
    """Detach the tags of a failed re-index (they stay adding and can be deleted)."""
    for key in operation.payload.get("tagKeys", []):
        dao.release_tag(conn, int(key), operation.operation_id)

"""Bulk update (reference-2.md §2): check a ``$bulkUpdate`` request and queue its ``update``
operation. The operation itself runs in ``bulk_update_run.py``.

Checks in the reference's order (§2.1): ``changeDataset`` present, ``studyInstanceUids``
present, at most 50, each a valid UID, then every element of the change dataset (all errors
together, as a dataset: ``ChangeDatasetInvalidError``), then one active update for the whole
server (409).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..dao import operations as operations_dao
from ..db import DbConn
from ..dicomweb import bulk_update as rules
from ..dicomweb.identifiers import uid_error_message, is_valid_uid
from ..errors import BODY_SYNTAX_INVALID, BadRequestError, ExistingOperationError
from ..models import Partition

logger = logging.getLogger(__name__)

CHANGE_DATASET_MISSING = "Value can not be null. (Parameter 'ChangeDataset')"
STUDIES_MISSING = "The required field 'StudyInstanceUids' is missing or empty."
TOO_MANY_STUDIES = "StudyInstanceUids count exceeded maximum length '{0}'"


class ChangeDatasetInvalidError(BadRequestError):
    """The change dataset holds elements that may not change or have invalid values: 400 with
    a DICOM JSON dataset (``body``) listing them (reference-2.md §2.1 step 7)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.body = rules.failed_attributes(errors)


@dataclass(frozen=True)
class BulkUpdateRequest:
    """A checked request: the studies (in request order, each once) and the change."""

    study_instance_uids: list[str]
    change_dataset: dict[str, Any]


def _field(body: dict[str, Any], name: str) -> Any:
    """A body property by name, case-insensitively (System.Text.Json's binding)."""
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


def parse_request(body: Any) -> BulkUpdateRequest:
    """Check a request body (parsed JSON); raise BadRequestError with the reference's text,
    or ChangeDatasetInvalidError."""
    if not isinstance(body, dict):
        raise BadRequestError(BODY_SYNTAX_INVALID)
    change = _field(body, "changeDataset")
    if change is None:
        raise BadRequestError(CHANGE_DATASET_MISSING)
    try:
        ds = rules.parse_change_dataset(change)
    except rules.ChangeDatasetSyntaxError:
        raise BadRequestError(BODY_SYNTAX_INVALID) from None
    uids = _field(body, "studyInstanceUids")
    if uids is not None and (not isinstance(uids, list)
                             or not all(isinstance(uid, str) for uid in uids)):
        raise BadRequestError(BODY_SYNTAX_INVALID)
    if not uids:
        raise BadRequestError(STUDIES_MISSING)
    if len(uids) > rules.MAX_STUDIES:
        raise BadRequestError(TOO_MANY_STUDIES.format(rules.MAX_STUDIES))
    for uid in uids:
        if not is_valid_uid(uid):
            raise BadRequestError(uid_error_message("StudyInstanceUid"))
    errors = rules.check_change_dataset(ds)
    if errors:
        raise ChangeDatasetInvalidError(errors)
    return BulkUpdateRequest(list(dict.fromkeys(uid.rstrip(" ") for uid in uids)),
                             rules.prepare_change(ds).json)


def start_bulk_update(conn: DbConn, partition: Partition, body: Any,
                      now: datetime | None = None) -> str:
    """Check the request and queue its update operation; return the operation id.

    Raises the request's 400s and ExistingOperationError (409) while another update is not
    started or running, in any partition (reference-2.md §2.5).
    """
    request = parse_request(body)
    now = now or datetime.now(timezone.utc)
    operation_id = uuid.uuid4().hex
    payload = {"partitionKey": partition.partition_key,
               "partitionName": partition.partition_name,
               "studyInstanceUids": request.study_instance_uids,
               "changeDataset": request.change_dataset,
               "next": 0, "studyUpdated": 0, "studyFailed": 0, "instanceUpdated": 0,
               "errors": []}
    try:
        with conn.transaction(write=True):
            _check_none_active(conn)
            operations_dao.add_operation(conn, operation_id, operations_dao.UPDATE, [], payload,
                                         now)
    except conn.engine.integrity_errors:
        # Another request queued one between the check and the insert: the unique index
        # (schema 0090) refused this one.
        _check_none_active(conn)
        raise
    logger.info("Queued update operation %s: %d studies in partition %s", operation_id,
                len(request.study_instance_uids), partition.partition_name)
    return operation_id


def _check_none_active(conn: DbConn) -> None:
    active = operations_dao.find_active_operation(conn, operations_dao.UPDATE)
    if active is not None:
        raise ExistingOperationError(active.operation_id, operations_dao.UPDATE)

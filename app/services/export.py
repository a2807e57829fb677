"""Export (reference-2.md §3): copy the files of studies, series and instances to a destination
as a long-running operation of type ``export``.

``parse_export_request`` validates the body with the reference's texts; ``start_export``
checks the destination, creates its errors log and queues the operation; the worker runs
``run_export`` (registered in operations.py), which copies the identifiers' instances in
batches. Each batch's files are written and made durable before the checkpoint that records
them commits, so a run cut off anywhere resumes after its last checkpoint: the files of the
unrecorded batch are written again whole (never half a file, never counted twice), and their
error lines may repeat, as the reference allows.
"""
from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..dao import export as dao
from ..dao import operations as operations_dao
from ..db import DbConn
from ..dicomweb.identifiers import is_valid_uid
from ..errors import ExportRequestError
from ..models import Partition
from .export_destinations import (Destination, DestinationError, ExportSettings,
                                  FileSystemDestination, error_entry, result_name)
from .export_s3 import S3Destination
from .operation_runs import checkpoint, finish, stop_requested

logger = logging.getLogger(__name__)

_FIELD = "The field '{key}' in request body is invalid: {message}"
_REQUIRED = "The {name} field is required."
_NOT_CONVERTIBLE = "The JSON value could not be converted to {type}."
_TOKEN = "Expected token type 'String' but read '{token}' instead."
_ENUM = "Expected value '{value}' to be one of the following values: [{names}]"
_UNKNOWN_TYPE = "Expected value 'Type' to be one of the following values: [{names}]"
MISSING_VALUES = "Missing value for property 'Values'."
INVALID_IDENTIFIER = "The string '{value}' was not recognized as a valid DICOM identifier."
TOO_MANY_IDENTIFIERS = "At most {limit} identifiers can be exported at once."
NOT_FOUND = {1: "The specified study cannot be found.",
             2: "The specified series cannot be found.",
             3: "The specified instance cannot be found."}
SOURCE_MISSING = "The file of the instance is missing from the blob store."
SOURCE_TYPES = {"identifiers": "Identifiers"}
#: The destination types (app/services/export_destinations.py, export_s3.py), the names the
#: reference's enum texts give them, and the text settings each reads from the request.
DESTINATIONS: dict[str, type[Destination]] = {"filesystem": FileSystemDestination,
                                              "s3": S3Destination}
DESTINATION_NAMES = {"filesystem": "Filesystem", "s3": "S3"}
DESTINATION_SETTINGS: dict[str, tuple[str, ...]] = {"filesystem": ("path",),
                                                    "s3": ("bucket", "prefix", "endpointUrl")}


@dataclass(frozen=True, slots=True)
class Identifier:
    """``study``, ``study/series`` or ``study/series/sop``."""

    study: str
    series: str | None = None
    sop: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Identifier":
        parts = text.split("/")
        if not 1 <= len(parts) <= 3 or not all(
                part == part.strip() and is_valid_uid(part) for part in parts):
            raise ExportRequestError(INVALID_IDENTIFIER.format(value=text))
        return cls(*parts)

    def __str__(self) -> str:
        return "/".join(uid for uid in (self.study, self.series, self.sop) if uid is not None)

    @property
    def not_found(self) -> str:
        return NOT_FOUND[len(str(self).split("/"))]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated export body."""

    identifiers: list[Identifier]
    destination_type: str
    destination_settings: dict[str, Any]


# --- the request --------------------------------------------------------------------------------

def _token(value: Any) -> str:
    """System.Text.Json's name of the token a JSON value starts with."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    return "StartObject" if isinstance(value, dict) else "StartArray"


def _get(obj: dict[str, Any], name: str) -> Any:
    """A property by case-insensitive name (the reference's binding), None when absent."""
    return next((value for key, value in obj.items() if key.lower() == name.lower()), None)


def _bad(key: str, message: str) -> ExportRequestError:
    return ExportRequestError(_FIELD.format(key=key, message=message))


def _part(body: dict[str, Any], name: str, types: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The ``type`` and ``settings`` of ``source`` or ``destination``."""
    title = name.capitalize()
    part = _get(body, name)
    if part is None:
        raise _bad(title, _REQUIRED.format(name=title))
    if not isinstance(part, dict):
        raise _bad(f"$.{name}", _NOT_CONVERTIBLE.format(type=f"Export{title}"))
    kind = _get(part, "type")
    names = [*types.values(), "Unknown"]
    if kind is not None and not isinstance(kind, str):
        raise _bad(f"$.{name}.type", _TOKEN.format(token=_token(kind)))
    if kind is not None and kind.lower() not in [n.lower() for n in names]:
        raise _bad(f"$.{name}.type", _ENUM.format(
            value=kind, names=", ".join(f"'{n}'" for n in names)))
    if kind is None or kind.lower() == "unknown":
        raise _bad(title, _UNKNOWN_TYPE.format(names=", ".join(types.values())))
    settings = _get(part, "settings")
    return kind.lower(), settings if isinstance(settings, dict) else {}


def _identifiers(settings: dict[str, Any], limit: int) -> list[Identifier]:
    values = _get(settings, "values")
    if not isinstance(values, list) or not values:
        raise ExportRequestError(MISSING_VALUES)
    if len(values) > limit:
        raise ExportRequestError(TOO_MANY_IDENTIFIERS.format(limit=limit))
    identifiers = []
    for value in values:
        if not isinstance(value, str):
            raise ExportRequestError(INVALID_IDENTIFIER.format(value=json.dumps(value)))
        identifiers.append(Identifier.parse(value))
    return identifiers


def _destination_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The destination's settings as text (ExportRequestError for another JSON type)."""
    options: dict[str, Any] = {}
    for name in DESTINATION_SETTINGS[kind]:
        value = _get(settings, name)
        if value is not None and not isinstance(value, str):
            raise _bad(f"$.destination.settings.{name}", _TOKEN.format(token=_token(value)))
        if value is not None:
            options[name] = value
    return options


def parse_export_request(body: Any, max_identifiers: int) -> ExportRequest:
    """Validate the JSON body of ``POST /export`` (reference-2.md §3.2)."""
    if not isinstance(body, dict):
        raise _bad("$", _NOT_CONVERTIBLE.format(type="ExportInput"))
    _, source = _part(body, "source", SOURCE_TYPES)
    kind, settings = _part(body, "destination", DESTINATION_NAMES)
    return ExportRequest(_identifiers(source, max_identifiers), kind,
                         _destination_settings(kind, settings))


def start_export(conn: DbConn, partition: Partition, request: ExportRequest,
                 settings: ExportSettings) -> str:
    """Check the destination, create its errors log and queue the operation; its id."""
    operation_id = uuid.uuid4().hex
    destination = DESTINATIONS[request.destination_type].from_request(
        settings, request.destination_settings, operation_id)
    destination.prepare()
    payload = {"partitionKey": partition.partition_key,
               "identifiers": [str(identifier) for identifier in request.identifiers],
               "destination": destination.payload(), "errorHref": destination.error_href}
    with conn.transaction(write=True):
        operations_dao.add_operation(conn, operation_id, operations_dao.EXPORT, [], payload,
                                     datetime.now(timezone.utc))
    logger.info("Export %s queued: %s identifier(s) to %s", operation_id,
                len(request.identifiers), destination.kind)
    return operation_id


# --- the operation ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Progress:
    """Where a run is: the identifier, the last instance copied in it, and the counts."""

    index: int = 0
    after_series: str = ""
    after_sop: str = ""
    exported: int = 0
    skipped: int = 0
    processed: int = 0

    @classmethod
    def of(cls, payload: dict[str, Any]) -> "_Progress":
        return cls(*(payload.get(key, default) for key, default in (
            ("index", 0), ("afterSeries", ""), ("afterSop", ""), ("exported", 0),
            ("skipped", 0), ("processed", 0))))

    def record(self, payload: dict[str, Any]) -> None:
        payload.update(index=self.index, afterSeries=self.after_series, afterSop=self.after_sop,
                       exported=self.exported, skipped=self.skipped, processed=self.processed)


def _copy_batch(conn: DbConn, blobs: Any, destination: Destination,
                partition_key: int, identifiers: list[Identifier], progress: _Progress,
                batch_size: int) -> list[str]:
    """Copy up to ``batch_size`` instances from where ``progress`` is; the error lines."""
    errors: list[str] = []
    budget = batch_size
    while progress.index < len(identifiers) and budget > 0:
        identifier, requested = identifiers[progress.index], budget
        rows = dao.list_instances(conn, partition_key, identifier.study, identifier.series,
                                  identifier.sop, progress.after_series, progress.after_sop,
                                  requested)
        if not rows and not progress.after_sop:
            progress.skipped += 1
            errors.append(error_entry(str(identifier), identifier.not_found))
        for row in rows:
            error = _copy(blobs, destination, identifier.study, row)
            if error is None:
                progress.exported += 1
            else:
                progress.skipped += 1
                errors.append(error_entry(
                    f"{identifier.study}/{row.series_instance_uid}/{row.sop_instance_uid}",
                    error))
        progress.processed += len(rows)
        budget -= max(1, len(rows))
        if len(rows) < requested or identifier.sop is not None:
            progress.index, progress.after_series, progress.after_sop = progress.index + 1, "", ""
        else:
            progress.after_series = rows[-1].series_instance_uid
            progress.after_sop = rows[-1].sop_instance_uid
    return errors


def _copy(blobs: Any, destination: Destination, study: str,
          row: dao.ExportInstance) -> str | None:
    """Copy one instance's file; the error of a skipped instance, None when copied."""
    try:
        name = result_name(study, row.series_instance_uid, row.sop_instance_uid)
    except ValueError as exc:
        return str(exc)
    try:
        source = blobs.open(row.blob_key)
    except FileNotFoundError:
        # Deleted since it was listed, or lost: the reference skips what it cannot read.
        logger.warning("Export: the file of instance %s is missing", row.sop_instance_uid)
        return SOURCE_MISSING
    with contextlib.closing(source):
        destination.write(name, source)
    return None


def run_export(conn: DbConn, operation: operations_dao.Operation, owner: str, settings: Any,
               should_stop: Callable[[], bool] = lambda: False) -> None:
    """Run (or resume) an export to the end (the runner of type ``export``)."""
    payload = dict(operation.payload)
    partition_key = int(payload["partitionKey"])
    identifiers = [Identifier.parse(text) for text in payload["identifiers"]]
    try:
        kind = payload["destination"].get("type")
        if kind not in DESTINATIONS:
            raise DestinationError(f"Unknown export destination {kind!r}.")
        destination = DESTINATIONS[kind].from_payload(settings.export, payload["destination"],
                                                      operation.operation_id)
    except DestinationError as exc:
        logger.error("Export %s cannot write to its destination: %s", operation.operation_id,
                     exc)
        with conn.transaction(write=True):
            finish(conn, operation, owner, _results(payload, _Progress.of(payload)),
                   operations_dao.FAILED)
        return
    if payload.get("total") is None:
        payload["total"] = sum(dao.count_instances(conn, partition_key, i.study, i.series, i.sop)
                               for i in identifiers)
    resumed = bool(payload.get("runs"))
    payload["runs"] = int(payload.get("runs") or 0) + 1
    progress = _Progress.of(payload)
    total = max(int(payload["total"]), 1)
    while progress.index < len(identifiers):
        stop_requested(operation, should_stop)
        errors = _copy_batch(conn, settings.blobs, destination, partition_key, identifiers,
                             progress, settings.export_batch_size)
        batch = int(payload.get("batches") or 0)
        destination.append_errors(errors, batch)
        destination.sync()
        progress.record(payload)
        payload["batches"] = batch + 1
        with conn.transaction(write=True):
            checkpoint(conn, operation, owner, progress.processed * 100 // total, payload)
    destination.finish(resumed)
    with conn.transaction(write=True):
        finish(conn, operation, owner, _results(payload, progress))
    logger.info("Export %s finished: %s exported, %s skipped", operation.operation_id,
                progress.exported, progress.skipped)


def _results(payload: dict[str, Any], progress: _Progress) -> dict[str, Any]:
    """The operation's ``results`` (reference-2.md §3.3)."""
    return {"errorHref": payload["errorHref"], "exported": progress.exported,
            "skipped": progress.skipped}

"""UPS-RS: ``[/vN][/partitions/{p}]/workitems`` (PS3.18 §11, reference-2.md §1).

Create (POST ``workitems[?{uid}]``), search (GET ``workitems``), retrieve (GET
``workitems/{uid}``), update (POST ``workitems/{uid}[?{transactionUid}]``), change state (PUT
``workitems/{uid}/state``) and request cancellation (POST ``workitems/{uid}/cancelrequest``).
The create route creates an unknown partition with its workitem, as STOW does; the others need
an existing one.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, request

from ..dicomweb import media_types
from ..dicomweb.identifiers import validate_uid
from ..errors import (AcceptFilterError, DataPartitionsNotFoundError,
                      EmptyUnsupportedMediaTypeError, WorkitemStatusError)
from ..partitioning import current_partition, resource_base_url, scope
from ..services import workitems as service
from ..services.workitems import TRANSACTION_UID_NAME, WORKITEM_UID_NAME
from .edge import bounded_body, get_db, no_content

bp = scope(Blueprint("workitems", __name__), create=True)

#: Transactions whose status results are JSON strings whatever the Accept header says.
_JSON_MESSAGE_ENDPOINTS = ("create_workitem", "retrieve_workitem", "request_cancellation",
                           "search_workitems")
#: Transactions that send every non-empty message in a Warning header too.
_WARNING_ENDPOINTS = ("update_workitem", "change_workitem_state")


@bp.post("/workitems")
def create_workitem() -> Response:
    """Create a workitem; its UID is the first query key, or the payload's SOPInstanceUID."""
    _accept_dicom_json()
    body = _body()
    uid = _first_query_key()
    created = service.create_workitem(
        get_db(), current_partition(),
        validate_uid(uid, WORKITEM_UID_NAME) if uid is not None else None, body)
    g.partition = created.partition
    url = _workitem_url(created.workitem_uid)
    return _empty(201, {"Location": url, "Content-Location": url})


@bp.get("/workitems")
def search_workitems() -> Response:
    """Search the partition's workitems."""
    _accept_dicom_json()
    config = current_app.config
    datasets = service.search_workitems(get_db(), _partition_key(), request.args.items(multi=True),
                                        config["QIDO_DEFAULT_LIMIT"], config["QIDO_MAX_LIMIT"])
    if not datasets:
        return no_content()
    return Response("[" + ",".join(datasets) + "]", mimetype=media_types.DICOM_JSON)


@bp.get("/workitems/<workitem>")
def retrieve_workitem(workitem: str) -> Response:
    """One workitem's dataset (never its transaction UID)."""
    _accept_dicom_json()
    key = _partition_key()
    text = service.retrieve_workitem(get_db(), key, validate_uid(workitem, WORKITEM_UID_NAME))
    return Response(text, mimetype=media_types.DICOM_JSON)


@bp.post("/workitems/<workitem>")
def update_workitem(workitem: str) -> Response:
    """Update a workitem; a claimed one needs its transaction UID as the first query key."""
    key = _partition_key()
    uid = validate_uid(workitem, WORKITEM_UID_NAME)
    transaction_uid = _first_query_key()
    if transaction_uid is not None:
        transaction_uid = validate_uid(transaction_uid, TRANSACTION_UID_NAME)
    body = _body()
    service.update_workitem(get_db(), key, uid, transaction_uid, body)
    return _empty(200, {"Content-Location": _workitem_url(uid)})


@bp.put("/workitems/<workitem>/state")
def change_workitem_state(workitem: str) -> Response:
    """Claim (IN PROGRESS), complete or cancel a workitem."""
    key = _partition_key()
    uid = validate_uid(workitem, WORKITEM_UID_NAME)
    warning = service.change_state(get_db(), key, uid, _body())
    if warning is None:
        return _empty(200)
    return _message(200, warning, warning=True)


@bp.post("/workitems/<workitem>/cancelrequest")
def request_cancellation(workitem: str) -> Response:
    """Ask for a SCHEDULED workitem to be canceled."""
    key = _partition_key()
    uid = validate_uid(workitem, WORKITEM_UID_NAME)
    service.request_cancellation(get_db(), key, uid, _body())
    return _message(202, "The workitem instance has been cancelled.")


@bp.errorhandler(WorkitemStatusError)
def status_result(error: WorkitemStatusError) -> Response:
    """A transaction's status result, written as the reference writes it (reference-2.md §1.2)."""
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    return _message(error.status, error.text,
                    warning=error.warning or endpoint in _WARNING_ENDPOINTS)


# --- Request and response helpers -------------------------------------------------------------

def _partition_key() -> int:
    """The existing partition's key; only create may name a partition that does not exist."""
    key = current_partition().partition_key
    if key is None:
        raise DataPartitionsNotFoundError()
    return key


def _accept_dicom_json() -> None:
    if not media_types.accepts_dicom_json(request.headers.get("Accept")):
        raise AcceptFilterError()


def _first_query_key() -> str | None:
    """The reference takes a UID from the query string's first key (``?1.2.3``)."""
    for key in request.args.keys():
        return key
    return None


def _body() -> bytes:
    """The request body, ``application/dicom+json`` only (else 415, empty body), bounded."""
    media, _ = media_types.parse_header(request.headers.get("Content-Type"))
    if media != media_types.DICOM_JSON:
        raise EmptyUnsupportedMediaTypeError()
    return bounded_body(current_app.config["WORKITEM_MAX_BODY_SIZE"])


def _workitem_url(uid: str) -> str:
    return f"{resource_base_url()}/workitems/{uid}"


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]
    return response


def _message(status: int, text: str, warning: bool = False) -> Response:
    """A message body: a JSON string for create, retrieve, search and cancel; for update and
    change state, a JSON string when the client accepts DICOM JSON, else plain text."""
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    accept = request.headers.get("Accept") or ""
    if endpoint in _JSON_MESSAGE_ENDPOINTS or media_types.DICOM_JSON in accept.lower():
        response = Response(json.dumps(text), status=status, mimetype=media_types.DICOM_JSON)
    else:
        response = Response(text, status=status, mimetype="text/plain")
    if warning and text:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        response.headers["Warning"] = f'299 {host or "-"}: "{text}"'
    return response

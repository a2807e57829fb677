"""What the OpenAPI document says about each view: one ``ROUTES`` entry per endpoint.

The paths, methods and path parameters come from the URL map, the summary from the view's
docstring (first line); this table adds what the code cannot tell: query parameters, request
bodies, responses. A new view needs one line here; ``tests/api/test_openapi.py`` fails,
naming the route, until it has one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# --- Media types -------------------------------------------------------------------------
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
TEXT = "text/plain"
OCTETS = "application/octet-stream"
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
MULTIPART_OCTETS = 'multipart/related; type="application/octet-stream"'
HTML = "text/html"
DICOM_JSON_ARRAY: dict[str, Any] = {"type": "array", "items": {"type": "object"},
                                    "description": "DICOM JSON datasets (PS3.18 §F.2)"}


@dataclass(frozen=True)
class Response:
    """One status: a description and the media types it may come in, each with a schema (a
    JSON schema dict, the name of a component schema, or None)."""

    description: str
    content: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDoc:
    tag: str
    responses: Mapping[int, Response]
    query: tuple[tuple[str, dict[str, Any], str], ...] = ()
    body: Mapping[str, Any] | None = None
    #: Free-form query parameters (QIDO attribute matching), described here.
    free_query: str | None = None
    #: The route is documented only when this is true for the app's configuration.
    when: Callable[[Mapping[str, Any]], bool] | None = None
    #: For a view that is not ours (no docstring to take the summary from).
    summary: str | None = None


def ok(description: str, *media: str, schema: Any = None) -> Response:
    return Response(description, {m: schema for m in media})


def text(description: str) -> Response:
    return Response(description, {TEXT: {"type": "string"}})


def empty(description: str) -> Response:
    return Response(description)


INT = {"type": "integer"}
STRING = {"type": "string"}
BOOL = {"type": "boolean"}
BAD = text("Invalid identifier, parameter or body (the reference's text).")
MISSING = text("Not found.")
NOT_ACCEPTABLE = empty("No acceptable media type (empty body).")
UNAVAILABLE = text("The data store is unavailable.")
_COMMON = {400: BAD, 503: UNAVAILABLE}

_STORE = {200: ok("Every instance stored.", DICOM_JSON, schema={"type": "object"}),
          202: ok("Some instances stored, some failed, or warnings (v2).", DICOM_JSON,
                  schema={"type": "object"}),
          204: empty("The body had no parts."),
          406: NOT_ACCEPTABLE, 409: ok("No instance stored (FailedSOPSequence says why).",
                                       DICOM_JSON, schema={"type": "object"}),
          413: text("A part is larger than DICOM_MAX_PART_SIZE, the body than "
                    "DICOM_MAX_REQUEST_SIZE, or it has more than DICOM_MAX_PARTS_PER_REQUEST "
                    "parts."),
          415: text("Not application/dicom or multipart/related of application/dicom."),
          **_COMMON}
_STORE_BODY = {DICOM: {"type": "string", "format": "binary"},
               MULTIPART_DICOM: {"type": "string", "format": "binary"}}
_RETRIEVE = {200: ok("The instances.", MULTIPART_DICOM, DICOM), 404: MISSING,
             406: NOT_ACCEPTABLE, **_COMMON}
_METADATA = {200: ok("DICOM JSON of the instances.", DICOM_JSON, schema=DICOM_JSON_ARRAY),
             304: empty("Not modified (If-None-Match)."), 404: MISSING, 406: NOT_ACCEPTABLE,
             **_COMMON}
_RENDERED = {200: ok("The rendered frame.", "image/jpeg", "image/png"), 404: MISSING,
             406: NOT_ACCEPTABLE, **_COMMON}
_QUALITY = (("quality", INT, "JPEG quality 1-100."),)
_SEARCH = {200: ok("Matching resources.", DICOM_JSON, schema=DICOM_JSON_ARRAY),
           204: empty("Nothing matches."), 404: MISSING, 406: NOT_ACCEPTABLE, **_COMMON}
_SEARCH_QUERY = (("limit", INT, "Results per page (DICOM_QIDO_MAX_LIMIT at most)."),
                 ("offset", INT, "Results to skip."),
                 ("fuzzymatching", BOOL, "Fuzzy matching of person names."),
                 ("includefield", STRING, "Attributes to add to each result, or 'all'."))
_MATCHING = "Attribute matching: `{keyword or tag}={value}` (PS3.18 §8.3.4), repeatable."
_DELETE = {204: empty("Deleted."), 404: MISSING, **_COMMON}
_PAGE = (("limit", INT, "Entries per page."), ("offset", INT, "Entries to skip."))
_FEED_QUERY = (*_PAGE, ("includeMetadata", BOOL, "Include each instance's metadata."),
               ("startTime", {"type": "string", "format": "date-time"}, "v2: from this time."),
               ("endTime", {"type": "string", "format": "date-time"}, "v2: before this time."))
_TAG = {200: ok("The extended query tag.", JSON, schema="ExtendedQueryTag"), 404: MISSING,
        **_COMMON}
_TAG_ENTRY = {"type": "object", "required": ["path", "level"], "properties": {
    "path": STRING, "vr": STRING, "privateCreator": STRING,
    "level": {"type": "string", "enum": ["Study", "Series", "Instance"]}}}


_WORKITEM_BODY = {DICOM_JSON: {"type": "object", "description": "A DICOM JSON dataset"}}
_WORKITEM_MESSAGE = ok("A status message (a JSON string, or text/plain for update and "
                       "change state unless DICOM JSON is accepted).", DICOM_JSON, TEXT)
_WORKITEM_FAILED = {404: _WORKITEM_MESSAGE, 409: _WORKITEM_MESSAGE, 413: text("Body too large."),
                    415: empty("Not application/dicom+json (empty body)."), **_COMMON}

_EXPORT_BODY = {"type": "object", "required": ["source", "destination"], "properties": {
    "source": {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["identifiers"]},
        "settings": {"type": "object", "properties": {"values": {
            "type": "array", "items": STRING,
            "description": "study, study/series or study/series/sop UIDs"}}}}},
    "destination": {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["filesystem", "s3"]},
        "settings": {"type": "object", "description": "filesystem: path (in DICOM_EXPORT_ROOT); "
                                                      "s3: bucket, prefix, endpointUrl"}}}}}


def _partitions_on(config: Mapping[str, Any]) -> bool:
    return bool(config.get("ENABLE_DATA_PARTITIONS"))


ROUTES: dict[str, RouteDoc] = {
    "stow.store_instances": RouteDoc("STOW-RS", _STORE, body=_STORE_BODY),
    "stow.store_instances_in_study": RouteDoc("STOW-RS", _STORE, body=_STORE_BODY),
    "wado.retrieve_study": RouteDoc("WADO-RS", _RETRIEVE),
    "wado.retrieve_series": RouteDoc("WADO-RS", _RETRIEVE),
    "wado.retrieve_instance": RouteDoc("WADO-RS", _RETRIEVE),
    "wado.retrieve_study_metadata": RouteDoc("WADO-RS", _METADATA),
    "wado.retrieve_series_metadata": RouteDoc("WADO-RS", _METADATA),
    "wado.retrieve_instance_metadata": RouteDoc("WADO-RS", _METADATA),
    "wado.retrieve_frames": RouteDoc("WADO-RS", {
        200: ok("The frames.", MULTIPART_OCTETS, OCTETS, "image/jp2"), 404: MISSING,
        406: NOT_ACCEPTABLE, **_COMMON}),
    "wado.retrieve_rendered_instance": RouteDoc("WADO-RS", _RENDERED, query=_QUALITY),
    "wado.retrieve_rendered_frame": RouteDoc("WADO-RS", _RENDERED, query=_QUALITY),
    "wado.retrieve_bulkdata": RouteDoc("WADO-RS", {
        200: ok("The attribute's value.", OCTETS, MULTIPART_OCTETS), 404: MISSING,
        406: NOT_ACCEPTABLE, **_COMMON}),
    "qido.search_for_studies": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY, free_query=_MATCHING),
    "qido.search_for_series": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY, free_query=_MATCHING),
    "qido.search_for_instances": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY,
                                          free_query=_MATCHING),
    "qido.search_for_series_in_study": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY,
                                                free_query=_MATCHING),
    "qido.search_for_instances_in_study": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY,
                                                   free_query=_MATCHING),
    "qido.search_for_instances_in_series": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY,
                                                    free_query=_MATCHING),
    **{f"qido_all_partitions.{name}": RouteDoc("QIDO-RS", _SEARCH, _SEARCH_QUERY,
                                               free_query=_MATCHING, when=_partitions_on)
       for name in ("search_for_studies", "search_for_series", "search_for_instances",
                    "search_for_series_in_study", "search_for_instances_in_study",
                    "search_for_instances_in_series")},
    "delete.delete_study": RouteDoc("Delete", _DELETE),
    "delete.delete_series": RouteDoc("Delete", _DELETE),
    "delete.delete_instance": RouteDoc("Delete", _DELETE),
    "change_feed.get_change_feed": RouteDoc("Change feed", {
        200: ok("A page of entries.", JSON, schema={"type": "array",
                                                    "items": "ChangeFeedEntry"}),
        **_COMMON}, _FEED_QUERY),
    "change_feed.get_change_feed_latest": RouteDoc("Change feed", {
        200: ok("The latest entry.", JSON, schema="ChangeFeedEntry"),
        204: empty("The feed is empty."), **_COMMON}, _FEED_QUERY[2:3]),
    "partitions.list_partitions": RouteDoc("Partitions", {
        200: ok("Every partition (with includeStatistics=true: PartitionDetails items).", JSON,
                schema={"type": "array", "items": "Partition"}),
        **_COMMON}, (("includeStatistics", BOOL, "Add each partition's statistics."),),
        when=_partitions_on),
    "partitions.get_partition": RouteDoc("Partitions", {
        200: ok("The partition and its statistics.", JSON, schema="PartitionDetails"),
        **_COMMON}, when=_partitions_on),
    "partitions.update_partition": RouteDoc("Partitions", {
        200: ok("The partition as it is now.", JSON, schema="PartitionDetails"),
        409: text("Another partition has the new name (in any case)."),
        415: empty("Not application/json (empty body)."), **_COMMON},
        body={JSON: "PartitionUpdate"}, when=_partitions_on),
    "partitions.delete_partition": RouteDoc("Partitions", {
        202: ok("Deletion queued; Location is the deletePartition operation.", JSON,
                schema="OperationReference"),
        409: text("The partition is already being deleted."), **_COMMON}, when=_partitions_on),
    "extended_query_tags.add_extended_query_tags": RouteDoc("Extended query tags", {
        202: ok("Re-index queued; Location is the operation.", JSON,
                schema="AddExtendedQueryTagResponse"),
        409: text("A tag already exists, or a re-index is running."), **_COMMON},
        body={JSON: {"type": "array", "items": _TAG_ENTRY}}),
    "extended_query_tags.list_extended_query_tags": RouteDoc("Extended query tags", {
        200: ok("A page of tags.", JSON, schema={"type": "array",
                                                 "items": "ExtendedQueryTag"}),
        **_COMMON}, _PAGE),
    "extended_query_tags.get_extended_query_tag": RouteDoc("Extended query tags", _TAG),
    "extended_query_tags.delete_extended_query_tag": RouteDoc("Extended query tags", {
        204: empty("Deleted."), 404: MISSING, **_COMMON}),
    "extended_query_tags.update_extended_query_tag": RouteDoc(
        "Extended query tags", _TAG, body={JSON: {
            "type": "object", "properties": {"queryStatus": {
                "type": "string", "enum": ["Enabled", "Disabled"]}}}}),
    "extended_query_tags.list_extended_query_tag_errors": RouteDoc("Extended query tags", {
        200: ok("A page of errors.", JSON, schema={"type": "array",
                                                   "items": "ExtendedQueryTagError"}),
        404: MISSING, **_COMMON}, _PAGE),
    "workitems.create_workitem": RouteDoc("UPS-RS workitems", {
        201: empty("Created; Location is the workitem."), **_WORKITEM_FAILED},
        body=_WORKITEM_BODY),
    "workitems.search_workitems": RouteDoc("UPS-RS workitems", _SEARCH, _SEARCH_QUERY,
                                           free_query=_MATCHING),
    "workitems.retrieve_workitem": RouteDoc("UPS-RS workitems", {
        200: ok("The workitem.", DICOM_JSON, schema={"type": "object"}), **_WORKITEM_FAILED}),
    "workitems.update_workitem": RouteDoc("UPS-RS workitems", {
        200: empty("Updated; Content-Location is the workitem."), **_WORKITEM_FAILED},
        body=_WORKITEM_BODY),
    "workitems.change_workitem_state": RouteDoc("UPS-RS workitems", {
        200: _WORKITEM_MESSAGE, **_WORKITEM_FAILED}, body=_WORKITEM_BODY),
    "workitems.request_cancellation": RouteDoc("UPS-RS workitems", {
        202: _WORKITEM_MESSAGE, **_WORKITEM_FAILED}, body=_WORKITEM_BODY),
    "export.export": RouteDoc("Export", {
        202: ok("Export queued; Location is the operation.", JSON, schema="OperationReference"),
        404: empty("Export is off (DICOM_ENABLE_EXPORT), after the body is validated."),
        413: text("Body larger than 4 MiB."),
        415: empty("Not application/json (empty body)."), **_COMMON}, body={JSON: _EXPORT_BODY}),
    "bulk_update.bulk_update_studies": RouteDoc("Bulk update", {
        202: ok("Update queued: the operation's id and href (v2 only; v1: 404).", JSON,
                schema={"type": "object", "properties": {"id": STRING, "href": STRING}}),
        400: Response("Invalid request (text), or a DICOM JSON dataset whose "
                      "FailedAttributesSequence lists the elements that may not change.",
                      {TEXT: {"type": "string"}, DICOM_JSON: {"type": "object"}}),
        409: text("An update operation is already active."),
        415: empty("Not application/json (empty body)."), 503: UNAVAILABLE},
        body={JSON: {"type": "object", "required": ["studyInstanceUids", "changeDataset"],
                     "properties": {"studyInstanceUids": {"type": "array", "items": STRING,
                                                          "maxItems": 50},
                                    "changeDataset": {"type": "object",
                                                      "description": "DICOM JSON"}}}}),
    "operations.get_operation": RouteDoc("Operations", {
        200: ok("Finished.", JSON, schema="Operation"),
        202: ok("Not started or running; Location is this URL.", JSON, schema="Operation"),
        404: empty("Unknown operation (empty body).")}),
    "health.health_check": RouteDoc("Operations", {
        200: ok("Healthy.", JSON, schema={"type": "object"}),
        503: ok("Unhealthy.", JSON, schema={"type": "object"})}),
    "metrics.scrape": RouteDoc("Operations", {
        200: ok("Prometheus text format.", TEXT), 401: empty("Missing or wrong token.")}),
    "openapi.document": RouteDoc("Operations", {
        200: ok("This document (OpenAPI 3.1).", JSON, schema={"type": "object"})}),
    "swagger_ui.show": RouteDoc("Operations", {
        200: ok("The page, or one of its files.", HTML),
        404: empty("No such file.")}, summary="Swagger UI for /openapi.json (offline)."),
}

#: Path parameters by name: (schema, description).
PATH_PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "partition_name": (STRING, "Data partition name (partitions on)."),
    "study": (STRING, "Study Instance UID."),
    "series": (STRING, "Series Instance UID."),
    "instance": (STRING, "SOP Instance UID."),
    "frames": (STRING, "Frame numbers, 1-based, comma-separated."),
    "frame": (INT, "Frame number, 1-based."),
    "tag_path": (STRING, "Tag path, e.g. 00101010 or PatientAge (bulk data: 7FE00010 ...)."),
    "operation_id": (STRING, "Operation id (32 hex digits, dashes allowed)."),
    "workitem": (STRING, "Workitem (SOP Instance) UID."),
    "path": (STRING, "A file of the page."),
}

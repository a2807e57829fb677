"""Extended query tags: ``/extendedquerytags`` (global, not partition-prefixed; reference.md §8)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ..dicomweb.numbers import INT32_MAX
from ..errors import ExistingOperationError
from ..schemas.extended_query_tags import (AddExtendedQueryTagResponseSchema,
                                           ExtendedQueryTagErrorSchema, ExtendedQueryTagSchema)
from ..services import extended_query_tags as service
from .edge import get_db, json_body, no_content, query_integer, version_base_url

bp = Blueprint("extended_query_tags", __name__)

MAX_LIMIT = 200
DEFAULT_LIMIT = 100


def _paging() -> tuple[int, int]:
    return (query_integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            query_integer("offset", 0, 0, INT32_MAX))


@bp.post("/extendedquerytags")
def add_extended_query_tags() -> Response:
    """Add tags and start their re-index: 202 with the operation reference."""
    entries = service.parse_add_request(json_body())
    base = version_base_url()
    try:
        operation_id = service.add_extended_query_tags(
            get_db(), entries, current_app.config["MAX_EXTENDED_QUERY_TAGS"])
    except ExistingOperationError as exc:
        exc.headers["Location"] = f"{base}/operations/{exc.operation_id}"
        raise
    href = f"{base}/operations/{operation_id}"
    response = jsonify(AddExtendedQueryTagResponseSchema().dump({"id": operation_id,
                                                                 "href": href}))
    response.status_code = 202
    response.headers["Location"] = href
    return response


@bp.get("/extendedquerytags")
def list_extended_query_tags() -> Response:
    """A page of extended query tags, ordered by key."""
    limit, offset = _paging()
    tags = service.list_extended_query_tags(get_db(), limit, offset)
    return jsonify(ExtendedQueryTagSchema(version_base_url(), many=True).dump(tags))


@bp.get("/extendedquerytags/<tag_path>")
def get_extended_query_tag(tag_path: str) -> Response:
    """One extended query tag."""
    tag = service.get_extended_query_tag(get_db(), tag_path)
    return jsonify(ExtendedQueryTagSchema(version_base_url()).dump(tag))


@bp.delete("/extendedquerytags/<tag_path>")
def delete_extended_query_tag(tag_path: str) -> Response:
    """Delete an extended query tag and its indexed values."""
    service.delete_extended_query_tag(get_db(), tag_path)
    return no_content()


@bp.patch("/extendedquerytags/<tag_path>")
def update_extended_query_tag(tag_path: str) -> Response:
    """Enable or disable querying on a tag (``queryStatus``)."""
    query_status = service.parse_update_request(json_body())
    tag = service.update_extended_query_tag(get_db(), tag_path, query_status)
    return jsonify(ExtendedQueryTagSchema(version_base_url()).dump(tag))


@bp.get("/extendedquerytags/<tag_path>/errors")
def list_extended_query_tag_errors(tag_path: str) -> Response:
    """A page of the instances whose value of the tag could not be indexed."""
    limit, offset = _paging()
    errors = service.list_extended_query_tag_errors(get_db(), tag_path, limit, offset)
    schema = ExtendedQueryTagErrorSchema(current_app.config["ENABLE_DATA_PARTITIONS"], many=True)
    return jsonify(schema.dump(errors))

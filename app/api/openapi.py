"""``GET [/vN]/openapi.json``: an OpenAPI 3.1 document of the routes under that prefix, made
from the URL map (paths, methods, path parameters), the views' docstrings (summaries), the
marshmallow schemas (our JSON resources) and ``route_docs.ROUTES`` (the rest); ``/docs/``:
Swagger UI for it, served from the flask-swagger-ui package (no CDN: works offline).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.routing import Rule

from ..partitioning import PARTITION_SEGMENT, register_api
from ..schemas.change_feed import ChangeFeedEntrySchema
from ..schemas.extended_query_tags import (AddExtendedQueryTagResponseSchema,
                                           ExtendedQueryTagErrorSchema, ExtendedQueryTagSchema)
from ..schemas.operations import OperationReferenceSchema, OperationSchema
from ..schemas.partitions import (PartitionDetailsSchema, PartitionSchema,
                                  PartitionUpdateSchema)
from ..security import routes as security_routes
from .edge import BASE_PREFIXES, base_prefix
from .route_docs import PATH_PARAMETERS, ROUTES, STRING, RouteDoc

bp = Blueprint("openapi", __name__)

DOCS_URL = "/docs"
#: Flask's own route for a static folder (we have none to document).
UNDOCUMENTED_ENDPOINTS = frozenset({"static"})
_VERSIONED = tuple(f"{prefix}/" for prefix, _, _ in BASE_PREFIXES if prefix)
_NAME_PREFIXES = tuple(name for _, name, _ in BASE_PREFIXES if name)
_ARGUMENT = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
_CACHE = "dicom_openapi_documents"


@bp.get("/openapi.json")
def document():
    """The OpenAPI 3.1 document of every route under this version prefix."""
    prefix = base_prefix()
    documents = current_app.extensions.setdefault(_CACHE, {})
    if prefix not in documents:
        documents[prefix] = build_document(current_app, prefix)
    return jsonify(documents[prefix])


def init_app(app: Flask) -> None:
    """``/openapi.json`` under every version prefix, Swagger UI at ``/docs/``."""
    register_api(app, bp, partition_aware=False)
    app.register_blueprint(get_swaggerui_blueprint(
        DOCS_URL, "/openapi.json", config={"app_name": "DICOMweb server"}))
    # The page at /docs too: a redirect to /docs/ would be our only one (routing never
    # redirects here, decisions "HTTP edge").
    app.add_url_rule(DOCS_URL, endpoint="swagger_ui.show",
                     view_func=app.view_functions["swagger_ui.show"])


def _unversioned(endpoint: str) -> str:
    """``v1_partitioned_stow.store_instances`` -> ``partitioned_stow.store_instances``."""
    for name_prefix in _NAME_PREFIXES:
        if endpoint.startswith(name_prefix):
            return endpoint[len(name_prefix):]
    return endpoint


def base_endpoint(endpoint: str) -> str:
    """``v1_partitioned_stow.store_instances`` -> ``stow.store_instances``: the ROUTES key."""
    return _unversioned(endpoint).removeprefix("partitioned_")


def rules_under(app: Flask, prefix: str) -> Iterator[tuple[Rule, str]]:
    """The rules a document for ``prefix`` covers, with their path below the prefix; routes
    of a feature that is off are left out."""
    partitions_on = bool(app.config["ENABLE_DATA_PARTITIONS"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS:
            continue
        if prefix:
            if not rule.rule.startswith(f"{prefix}/"):
                continue
        elif rule.rule.startswith(_VERSIONED):
            continue
        if PARTITION_SEGMENT in rule.rule and not partitions_on:
            continue
        doc = ROUTES.get(base_endpoint(rule.endpoint))
        if doc is not None and doc.when is not None and not doc.when(app.config):
            continue
        yield rule, rule.rule[len(prefix):]


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def build_document(app: Flask, prefix: str) -> dict[str, Any]:
    version = next(v for p, _, v in BASE_PREFIXES if p == prefix)
    secured = bool(app.config.get("SECURITY_ENABLED"))
    spec = APISpec(
        title="DICOMweb server", version=f"{version}", openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()], servers=[{"url": prefix or "/"}],
        info={"description": "DICOMweb (PS3.18) with data partitions. Generated from the "
                             "server's routes; error bodies are text/plain."},
        **({"security": [{"bearer": []}]} if secured else {}))
    if secured:
        spec.components.security_scheme("bearer", {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An OIDC access token of DICOM_SECURITY_AUTHORITY (docs/security.md)."})
    for name, schema in (("Partition", PartitionSchema),
                         ("PartitionDetails", PartitionDetailsSchema),
                         ("PartitionUpdate", PartitionUpdateSchema),
                         ("ChangeFeedEntry", ChangeFeedEntrySchema),
                         ("ExtendedQueryTag", ExtendedQueryTagSchema(base="")),
                         ("ExtendedQueryTagError", ExtendedQueryTagErrorSchema(True)),
                         ("AddExtendedQueryTagResponse", AddExtendedQueryTagResponseSchema),
                         ("OperationReference", OperationReferenceSchema),
                         ("Operation", OperationSchema(base="", api_version=version))):
        spec.components.schema(name, schema=schema)
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for rule, path in sorted(rules_under(app, prefix), key=lambda item: item[1]):
        doc = ROUTES.get(base_endpoint(rule.endpoint))
        view = app.view_functions[rule.endpoint]
        for method in methods_of(rule):
            operation_id = _unique(_unversioned(rule.endpoint).replace(".", "_"),
                                   operation_ids)
            operation = _operation(rule, view, doc, operation_id)
            if secured and _anonymous(rule.endpoint):
                operation["security"] = []
            paths.setdefault(openapi_path(path), {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _anonymous(endpoint: str) -> bool:
    rule = security_routes.rule_for(endpoint)
    return rule is not None and rule.scope == security_routes.ANONYMOUS


def openapi_path(rule: str) -> str:
    """``/studies/<study>/bulkdata/<path:tag_path>`` -> ``/studies/{study}/bulkdata/{tag_path}``.

    OpenAPI treats ``/studies/{a}`` and ``/studies/{b}`` as the same path: every view names its
    arguments alike (``<study>``, ``<series>``, ``<instance>``)."""
    return _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule)


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name}_{number}", number + 1
    used.add(candidate)
    return candidate


def _operation(rule: Rule, view: Any, doc: RouteDoc | None,
               operation_id: str) -> dict[str, Any]:
    lines = (view.__doc__ or "").strip().splitlines()
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": (doc and doc.summary) or (lines[0] if lines else operation_id),
        "parameters": [_path_parameter(name) for name in _ARGUMENT.findall(rule.rule)],
    }
    if len(lines) > 1:
        operation["description"] = " ".join(line.strip() for line in lines[1:]).strip()
    if doc is None:
        operation["responses"] = {"default": {"description": "Undocumented."}}
        return operation
    operation["tags"] = [doc.tag]
    for name, schema, description in doc.query:
        operation["parameters"].append({"name": name, "in": "query", "required": False,
                                        "schema": schema, "description": description})
    if doc.free_query:
        operation["parameters"].append({
            "name": "match", "in": "query", "required": False, "style": "form",
            "explode": True, "description": doc.free_query,
            "schema": {"type": "object", "additionalProperties": STRING}})
    if doc.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            media: {"schema": schema} for media, schema in doc.body.items()}}
    operation["responses"] = {
        str(status): {"description": response.description,
                      **({"content": {media: ({"schema": schema} if schema else {})
                                      for media, schema in response.content.items()}}
                         if response.content else {})}
        for status, response in sorted(doc.responses.items())}
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    schema, description = PATH_PARAMETERS.get(name, (STRING, name))
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}

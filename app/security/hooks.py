"""The HTTP edge of security: the Flask hooks, and the checks the partition router and the
partition list call. Everything else in this package is free of Flask.

Order of a request (reference-2.md §4.4): CORS preflight (answered, never authenticated) ->
query-string guard -> authentication (401) -> the route's data action in some scope, or in
scope ``/`` for global routes (403) -> partition resolution, which checks the action in the
resolved partition (403) -> view. Unmatched URLs (404/405) are not authenticated.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

from ..errors import AuthenticationRequiredError, DicomServerError, ForbiddenActionError
from . import audit, cors, routes
from .actions import DataAction, action_name
from .roles import EVERYTHING, Grants, grants_for
from .settings import AuthSettings, CorsSettings
from .tokens import (AuthenticationFailure, KeysUnavailableError, Principal, TokenValidator,
                     bearer_token, challenge)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of this request and what its route needs."""

    principal: Principal
    grants: Grants
    rule: routes.RouteRule | None


def _require(granted: DataAction, needed: DataAction) -> None:
    if needed not in granted:
        raise ForbiddenActionError()


def _route_rule() -> routes.RouteRule | None:
    rule = request.url_rule
    return routes.rule_for(rule.endpoint) if rule is not None else None


def register_authentication(app: Flask, settings: AuthSettings) -> None:
    validator = TokenValidator(settings)

    @app.before_request
    def authenticate() -> None:
        if request.url_rule is None:
            return  # 404 / 405: answered without authentication, as the reference
        rule = _route_rule()
        if rule is not None and rule.scope == routes.ANONYMOUS:
            return
        try:
            principal = validator.validate(bearer_token(request.headers.get("Authorization")))
        except AuthenticationFailure as failure:
            raise AuthenticationRequiredError(
                headers={"WWW-Authenticate": challenge(settings, failure)}) from None
        except KeysUnavailableError as exc:
            logger.error("Cannot validate bearer tokens: %s", exc)
            raise DicomServerError() from None  # 503: the issuer's keys are unreachable
        if not settings.authorization_enabled:
            g.caller = Caller(principal, EVERYTHING, rule)
            return
        grants = grants_for(principal.role_names(settings.roles_claim), settings.roles)
        g.caller = Caller(principal, grants, rule)
        if rule is None:
            raise ForbiddenActionError()  # a route missing from the table: default-deny
        _require(grants.global_actions if rule.scope == routes.GLOBAL else grants.anywhere(),
                 rule.action)


def authorize_partition(partition_name: str, lookup: bool) -> None:
    """Called where the partition is resolved, with its stored name (or, for a partition STOW
    is about to create, the requested one): 403 unless the caller's grants in it cover the
    route's action, plus ``read`` for looking an existing partition up by name (reference)."""
    caller: Caller | None = g.get("caller")
    if caller is None or caller.rule is None:
        return
    needed = caller.rule.action | (DataAction.READ if lookup else DataAction.NONE)
    _require(caller.grants.in_partition(partition_name), needed)


def needs_scope() -> bool:
    """Whether the caller's grants decide this route (a bearer token was checked against a
    route rule), so the partition's stored name is needed before the view runs."""
    caller: Caller | None = g._get_current_object().get("caller")
    return caller is not None and caller.rule is not None


def authorize_global() -> None:
    """Called for a partition-aware route that addresses no partition (the global change
    feed): its action is needed in scope ``/``."""
    caller: Caller | None = g.get("caller")
    if caller is not None and caller.rule is not None:
        _require(caller.grants.global_actions, caller.rule.action)


def may_read(partition_name: str) -> bool:
    """Whether the caller may read this partition (the partition list shows only those)."""
    caller: Caller | None = g.get("caller")
    return caller is None or DataAction.READ in caller.grants.in_partition(partition_name)


def register_cors(app: Flask, settings: CorsSettings | None) -> None:
    """Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered 204 here,
    never authenticated nor audited, as the reference's CORS middleware does; with CORS off
    (``settings`` None) without CORS headers. Other responses get the policy's headers."""

    @app.before_request
    def answer_preflight() -> Response | None:
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if request.method != "OPTIONS" or origin is None or method is None:
            return None
        g.cors_preflight = True  # its headers are complete: not those of responses
        response = Response(status=204)
        del response.headers["Content-Type"]
        if settings is not None:
            response.headers.update(cors.preflight_headers(
                settings, origin, method,
                request.headers.get("Access-Control-Request-Headers", "")))
            response.vary.add("Origin")
        return response

    if settings is None:
        return

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if g.get("cors_preflight"):
            return response
        for key, value in cors.response_headers(settings, request.headers.get("Origin")).items():
            if key == "Vary":
                response.vary.add(value)
            else:
                response.headers[key] = value
        return response


def _study_uid(view_args: dict[str, Any] | None) -> str | None:
    if not view_args:
        return None
    value = view_args.get("study")
    return value if isinstance(value, str) else None


def _partition_name() -> str | None:
    partition = g.get("partition")
    if partition is not None:
        return partition.partition_name
    name = g.get("partition_name")
    return name if isinstance(name, str) else None


def register_audit(app: Flask) -> None:

    @app.after_request
    def write_audit_line(response: Response) -> Response:
        if g.get("cors_preflight"):
            return response  # answered before the audit, as the reference's CORS middleware
        caller: Caller | None = g.get("caller")
        rule = _route_rule()
        audit.write(audit.AuditRecord(
            subject=caller.principal.subject if caller else None,
            client=request.remote_addr, method=request.method,
            route=request.url_rule.rule if request.url_rule is not None else None,
            partition=_partition_name(), study=_study_uid(request.view_args),
            action=action_name(rule.action) if rule else "", status=response.status_code))
        return response

"""The reference's query-string guard (reference.md §0.1): a query string containing ``<`` or
``%3c`` (any case) is rejected on every route, before routing, with 400."""
from __future__ import annotations

from flask import Flask, request

from .errors import InvalidQueryStringError

INVALID_CHARACTERS = "The query string included invalid characters."


def check_query_string() -> None:
    raw = request._get_current_object().query_string.decode("latin-1").lower()
    if "<" in raw or "%3c" in raw:
        raise InvalidQueryStringError(INVALID_CHARACTERS)


def init_app(app: Flask) -> None:
    # App-level before_request runs before the view and before a routing 404 is raised.
    app.before_request(check_query_string)

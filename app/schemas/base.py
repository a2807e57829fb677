"""The base of our JSON schemas that omit null properties (as the reference does)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, post_dump


class OmitNullsSchema(Schema):
    """A schema whose dump leaves out the properties whose value is None."""

    @post_dump
    def omit_nulls(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}

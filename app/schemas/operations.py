"""Operation status JSON (reference.md §9): camelCase, null fields omitted."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from ..dao.operations import SUCCEEDED, Operation
from .base import OmitNullsSchema


class OperationSchema(OmitNullsSchema):
    """An operation; ``base`` makes its resources absolute, ``api_version`` 1 reports a
    succeeded operation as ``completed`` (reference.md §9)."""

    operation_id = fields.String(data_key="operationId")
    type = fields.String(attribute="operation_type")
    created_time = fields.DateTime(data_key="createdTime", format="iso")
    last_updated_time = fields.DateTime(data_key="lastUpdatedTime", format="iso")
    status = fields.Method("_status")
    percent_complete = fields.Integer(data_key="percentComplete")
    resources = fields.Method("_resources")
    results = fields.Raw()

    def __init__(self, base: str, api_version: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base, self.api_version = base, api_version

    def _status(self, operation: Operation) -> str:
        if operation.status == SUCCEEDED and self.api_version == 1:
            return "completed"
        return operation.status

    def _resources(self, operation: Operation) -> list[str]:
        return [f"{self.base}{path}" for path in operation.resources]


class OperationReferenceSchema(Schema):
    """``{"id", "href"}`` of a queued operation (the 202 answer that starts one)."""

    id = fields.String()
    href = fields.String()

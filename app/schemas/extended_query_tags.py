"""Extended query tag JSON (reference.md §8.3): camelCase, null fields omitted."""
from __future__ import annotations

from typing import Any

from marshmallow import fields

from ..dao.extended_query_tags import ExtendedQueryTag, TagError
from ..services.extended_query_tags import LEVEL_NAMES, QUERY_STATUS_NAMES, STATUS_NAMES
from .base import OmitNullsSchema
from .operations import OperationReferenceSchema


class ExtendedQueryTagSchema(OmitNullsSchema):
    """A tag; ``context`` needs ``base`` (absolute URL of the version prefix)."""

    path = fields.String(attribute="tag_path")
    vr = fields.String(attribute="tag_vr")
    private_creator = fields.String(attribute="tag_private_creator", data_key="privateCreator")
    level = fields.Function(lambda tag: LEVEL_NAMES[tag.tag_level])
    status = fields.Function(lambda tag: STATUS_NAMES[tag.tag_status])
    query_status = fields.Function(lambda tag: QUERY_STATUS_NAMES[tag.query_status],
                                   data_key="queryStatus")
    errors = fields.Method("_errors")
    operation = fields.Method("_operation")

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base

    def _errors(self, tag: ExtendedQueryTag) -> dict[str, Any] | None:
        if not tag.error_count:
            return None
        return {"count": tag.error_count,
                "href": f"{self.base}/extendedquerytags/{tag.tag_path}/errors"}

    def _operation(self, tag: ExtendedQueryTag) -> dict[str, Any] | None:
        if not tag.operation_id:
            return None
        return {"id": tag.operation_id, "href": f"{self.base}/operations/{tag.operation_id}"}


class ExtendedQueryTagErrorSchema(OmitNullsSchema):
    """An error of a tag; ``partitionName`` only when partitions are enabled."""

    study_instance_uid = fields.String(data_key="studyInstanceUid")
    series_instance_uid = fields.String(data_key="seriesInstanceUid")
    sop_instance_uid = fields.String(data_key="sopInstanceUid")
    created_time = fields.DateTime(data_key="createdTime", format="iso")
    error_message = fields.String(data_key="errorMessage")
    partition_name = fields.Method("_partition_name", data_key="partitionName")

    def __init__(self, with_partition: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.with_partition = with_partition

    def _partition_name(self, error: TagError) -> str | None:
        return error.partition_name if self.with_partition else None


class AddExtendedQueryTagResponseSchema(OperationReferenceSchema):
    """``{"id", "href"}`` of the queued re-index operation."""

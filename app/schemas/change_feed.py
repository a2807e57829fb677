"""Change-feed entries on the wire: camelCase properties, PascalCase action/state values
(reference §0.2, §7); null properties (``metadata`` when absent) are omitted."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump


class ChangeFeedEntrySchema(Schema):
    sequence = fields.Integer()
    partition_name = fields.String(data_key="partitionName")
    study_instance_uid = fields.String(data_key="studyInstanceUid")
    series_instance_uid = fields.String(data_key="seriesInstanceUid")
    sop_instance_uid = fields.String(data_key="sopInstanceUid")
    action = fields.Function(lambda entry: entry.action_name)
    timestamp = fields.DateTime(format="iso")
    state = fields.String()
    metadata = fields.Raw()

    @post_dump
    def omit_nulls(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


change_feed_entry_schema = ChangeFeedEntrySchema()
change_feed_schema = ChangeFeedEntrySchema(many=True)

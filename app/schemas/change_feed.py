"""Change-feed entries on the wire: camelCase properties, PascalCase action/state values
(reference.md §0.2, §7); null properties (``metadata`` when absent) are omitted."""
from __future__ import annotations

from marshmallow import fields

from .base import OmitNullsSchema


class ChangeFeedEntrySchema(OmitNullsSchema):
    sequence = fields.Integer()
    partition_name = fields.String(data_key="partitionName")
    study_instance_uid = fields.String(data_key="studyInstanceUid")
    series_instance_uid = fields.String(data_key="seriesInstanceUid")
    sop_instance_uid = fields.String(data_key="sopInstanceUid")
    action = fields.Function(lambda entry: entry.action_name)
    timestamp = fields.DateTime(format="iso")
    state = fields.String()
    metadata = fields.Raw()


change_feed_entry_schema = ChangeFeedEntrySchema()
change_feed_schema = ChangeFeedEntrySchema(many=True)

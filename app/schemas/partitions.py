"""``GET /partitions`` items, ``GET /partitions/{name}`` and the body of ``PATCH
/partitions/{name}`` (issue #20)."""
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

#: The largest quota a BIGINT column holds.
_MAX_QUOTA = 2 ** 63 - 1


class PartitionSchema(Schema):
    partition_key = fields.Integer(data_key="partitionKey")
    partition_name = fields.String(data_key="partitionName")
    created_date = fields.DateTime(data_key="createdDate", format="iso")


class PartitionStatisticsSchema(Schema):
    """What a partition holds; ``bytesOnDisk`` counts each distinct file once."""

    studies = fields.Integer()
    series = fields.Integer()
    instances = fields.Integer()
    stored_bytes = fields.Integer(data_key="bytesStored")
    disk_bytes = fields.Integer(data_key="bytesOnDisk")
    last_stored_date = fields.DateTime(data_key="lastStoredTime", format="iso",
                                       allow_none=True)


class QuotaSchema(Schema):
    """A quota: each limit a whole number from 0, or null for none."""

    class Meta:
        unknown = RAISE

    max_instances = fields.Integer(data_key="maxInstances", allow_none=True, strict=True,
                                   validate=validate.Range(0, _MAX_QUOTA))
    max_bytes = fields.Integer(data_key="maxBytes", allow_none=True, strict=True,
                               validate=validate.Range(0, _MAX_QUOTA))

    @pre_load
    def _no_booleans(self, data: Any, **kwargs: Any) -> Any:
        for key in ("maxInstances", "maxBytes"):
            if isinstance(data, dict) and isinstance(data.get(key), bool):
                raise ValidationError("Not a valid integer.", key)
        return data


class PartitionDetailsSchema(PartitionSchema):
    statistics = fields.Nested(PartitionStatisticsSchema)
    quota = fields.Nested(QuotaSchema)


class PartitionUpdateSchema(Schema):
    """``{"partitionName": "new"}`` and/or ``{"quota": {...} | null}``."""

    class Meta:
        unknown = RAISE

    partition_name = fields.String(data_key="partitionName")
    quota = fields.Nested(QuotaSchema, allow_none=True)


def describe_error(error: ValidationError) -> str:
    """One line for the first problem of a body ``PartitionUpdateSchema`` refused."""
    messages: Any = error.messages
    path: list[str] = []
    while isinstance(messages, dict):
        key, messages = next(iter(messages.items()))
        if key != "_schema":
            path.append(str(key))
    text = messages[0] if isinstance(messages, list) and messages else str(messages)
    if not path:
        return "The request body must be a JSON object."
    if text == "Invalid input type.":
        text = "Not a valid object."
    if text == "Unknown field.":
        return f'The field is not supported: "{".".join(path)}".'
    return f"The field '{'.'.join(path)}' in request body is invalid: {text}"


partition_list_schema = PartitionSchema(many=True)
partition_details_schema = PartitionDetailsSchema()
partition_details_list_schema = PartitionDetailsSchema(many=True)
partition_update_schema = PartitionUpdateSchema()

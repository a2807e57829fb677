"""``GET /partitions`` items and ``GET /partitions/{name}`` (issue #20)."""
from marshmallow import Schema, fields


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


class PartitionDetailsSchema(PartitionSchema):
    statistics = fields.Nested(PartitionStatisticsSchema)


partition_list_schema = PartitionSchema(many=True)
partition_details_schema = PartitionDetailsSchema()
partition_details_list_schema = PartitionDetailsSchema(many=True)

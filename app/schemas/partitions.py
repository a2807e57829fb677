"""``GET /partitions`` items."""
from marshmallow import Schema, fields


class PartitionSchema(Schema):
    partition_key = fields.Integer(data_key="partitionKey")
    partition_name = fields.String(data_key="partitionName")
    created_date = fields.DateTime(data_key="createdDate", format="iso")


partition_list_schema = PartitionSchema(many=True)

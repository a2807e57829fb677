"""``/partitions``: list data partitions, and one partition with its statistics (global, not
partition-prefixed; issue #20)."""
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from ..dicomweb.numbers import boolean_value
from ..errors import (DataPartitionsFeatureDisabledError, DataPartitionsNotFoundError,
                      PartitionUpdateInvalidError)
from ..schemas.partitions import (describe_error, partition_details_list_schema,
                                  partition_details_schema, partition_list_schema,
                                  partition_update_schema)
from ..schemas.operations import OperationReferenceSchema
from ..security import authorize_partition, may_read
from ..services import partition_deletion
from ..services import partitions as service
from .edge import get_db, json_body, version_base_url

bp = Blueprint("partitions", __name__)


def _require_feature() -> None:
    if not current_app.config["ENABLE_DATA_PARTITIONS"]:
        raise DataPartitionsFeatureDisabledError()


@bp.get("/partitions")
def list_partitions():
    """Every partition the caller may read, ordered by key; 400 when the feature is off."""
    _require_feature()
    raw = next((v for k, v in request.args.items() if k.lower() == "includestatistics"), None)
    if raw is not None and boolean_value("includeStatistics", raw):
        details = service.list_partitions_with_statistics(get_db())
        return jsonify(partition_details_list_schema.dump(
            [p for p in details if may_read(p.partition_name)]))
    partitions = [p for p in service.list_partitions(get_db()) if may_read(p.partition_name)]
    return jsonify(partition_list_schema.dump(partitions))


@bp.get("/partitions/<partition_name>")
def get_partition(partition_name: str):
    """One partition with its statistics; 400 for an unknown or invalid name."""
    _require_feature()
    partition = service.find_partition(get_db(), partition_name)
    if partition is None:
        authorize_partition(partition_name, lookup=True)  # 403 before "does not exist"
        raise DataPartitionsNotFoundError()
    authorize_partition(partition.partition_name, lookup=True)
    return jsonify(partition_details_schema.dump(
        service.describe_partition(get_db(), partition)))


@bp.patch("/partitions/<partition_name>")
def update_partition(partition_name: str):
    """Rename a partition and/or set its quota (``{"partitionName": ..., "quota": ...}``)."""
    _require_feature()
    try:
        changes = partition_update_schema.load(json_body())
    except ValidationError as exc:
        raise PartitionUpdateInvalidError(describe_error(exc)) from None
    details = service.update_partition(get_db(), partition_name, changes.get("partition_name"),
                                       changes.get("quota", service.UNCHANGED))
    return jsonify(partition_details_schema.dump(details))


@bp.delete("/partitions/<partition_name>")
def delete_partition(partition_name: str):
    """Delete a partition and everything in it: 202 with the ``deletePartition`` operation."""
    _require_feature()
    operation_id = partition_deletion.start_deletion(get_db(), partition_name)
    href = f"{version_base_url()}/operations/{operation_id}"
    response = jsonify(OperationReferenceSchema().dump({"id": operation_id, "href": href}))
    response.status_code = 202
    response.headers["Location"] = href
    return response

"""``GET /partitions``: list data partitions (global, not partition-prefixed)."""
from flask import Blueprint, current_app, jsonify

from ..errors import DataPartitionsFeatureDisabledError
from ..schemas.partitions import partition_list_schema
from ..services import partitions as service
from .edge import get_db

bp = Blueprint("partitions", __name__)


@bp.get("/partitions")
def list_partitions():
    """Every partition, ordered by key; 400 when the feature is off."""
    if not current_app.config["ENABLE_DATA_PARTITIONS"]:
        raise DataPartitionsFeatureDisabledError()
    return jsonify(partition_list_schema.dump(service.list_partitions(get_db())))

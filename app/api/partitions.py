"""``GET /partitions``: list data partitions (global, not partition-prefixed)."""
from flask import Blueprint, current_app, jsonify

from ..errors import DataPartitionsFeatureDisabledError
from ..schemas.partitions import partition_list_schema
from ..security import may_read
from ..services import partitions as service
from .edge import get_db

bp = Blueprint("partitions", __name__)


@bp.get("/partitions")
def list_partitions():
    """Every partition the caller may read, ordered by key; 400 when the feature is off."""
    if not current_app.config["ENABLE_DATA_PARTITIONS"]:
        raise DataPartitionsFeatureDisabledError()
    partitions = [p for p in service.list_partitions(get_db()) if may_read(p.partition_name)]
    return jsonify(partition_list_schema.dump(partitions))

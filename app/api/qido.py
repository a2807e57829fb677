"""QIDO-RS: ``GET [/vN][/partitions/{p}]/studies|series|instances`` and the study/series-scoped
searches (PS3.18 §10.6, reference.md §5, decisions §6), and the same searches across every
partition, ``GET [/vN]/partitions/*/...`` (issue #20; docs/api/partitions.md)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from ..dicomweb import media_types
from ..dicomweb.identifiers import SERIES, STUDY, validate_uid
from ..errors import DataPartitionsFeatureDisabledError
from ..partitioning import (by_partition_name, current_partition, partition_found,
                            partitions_enabled, scope, searched_partition)
from ..services import query as query_service
from ..services.query import PathUids
from .edge import (api_version, dicom_json_accept_filter, get_db, no_content,
                   version_base_url)

bp = scope(Blueprint("qido", __name__))
#: Search across partitions: registered under the version prefixes only (a global API). The
#: static ``*`` segment routes before ``/partitions/<partition_name>``; other methods fall
#: through to the partitioned routes, where ``*`` is an invalid partition name.
all_partitions_bp = Blueprint("qido_all_partitions", __name__)
ALL_PARTITIONS = "/partitions/*"

ERRONEOUS_ATTRIBUTES_HEADER = "erroneous-dicom-attributes"


@bp.get("/studies")
@by_partition_name
@dicom_json_accept_filter
def search_for_studies():
    """Search all studies."""
    return _search("studies")


@bp.get("/series")
@by_partition_name
@dicom_json_accept_filter
def search_for_series():
    """Search all series."""
    return _search("series")


@bp.get("/instances")
@by_partition_name
@dicom_json_accept_filter
def search_for_instances():
    """Search all instances."""
    return _search("instances")


@bp.get("/studies/<study>/series")
@by_partition_name
@dicom_json_accept_filter
def search_for_series_in_study(study: str):
    """Search the series of one study."""
    return _search("study_series", PathUids(validate_uid(study, STUDY)))


@bp.get("/studies/<study>/instances")
@by_partition_name
@dicom_json_accept_filter
def search_for_instances_in_study(study: str):
    """Search the instances of one study."""
    return _search("study_instances", PathUids(validate_uid(study, STUDY)))


@bp.get("/studies/<study>/series/<series>/instances")
@by_partition_name
@dicom_json_accept_filter
def search_for_instances_in_series(study: str, series: str):
    """Search the instances of one series."""
    return _search("series_instances", PathUids(validate_uid(study, STUDY),
                                                validate_uid(series, SERIES)))


@all_partitions_bp.before_request
def require_partitions() -> None:
    """``*`` names every partition: a partition route, so 400 when the feature is off."""
    g.partition_name = "*"  # for the audit line
    if not partitions_enabled():
        raise DataPartitionsFeatureDisabledError()


@all_partitions_bp.get(f"{ALL_PARTITIONS}/studies", endpoint="search_for_studies")
@dicom_json_accept_filter
def search_all_partitions_for_studies():
    """Search the studies of every partition."""
    return _search("studies", across=True)


@all_partitions_bp.get(f"{ALL_PARTITIONS}/series", endpoint="search_for_series")
@dicom_json_accept_filter
def search_all_partitions_for_series():
    """Search the series of every partition."""
    return _search("series", across=True)


@all_partitions_bp.get(f"{ALL_PARTITIONS}/instances", endpoint="search_for_instances")
@dicom_json_accept_filter
def search_all_partitions_for_instances():
    """Search the instances of every partition."""
    return _search("instances", across=True)


@all_partitions_bp.get(f"{ALL_PARTITIONS}/studies/<study>/series",
                       endpoint="search_for_series_in_study")
@dicom_json_accept_filter
def search_all_partitions_for_series_in_study(study: str):
    """Search the series of one study in every partition."""
    return _search("study_series", PathUids(validate_uid(study, STUDY)), across=True)


@all_partitions_bp.get(f"{ALL_PARTITIONS}/studies/<study>/instances",
                       endpoint="search_for_instances_in_study")
@dicom_json_accept_filter
def search_all_partitions_for_instances_in_study(study: str):
    """Search the instances of one study in every partition."""
    return _search("study_instances", PathUids(validate_uid(study, STUDY)), across=True)


@all_partitions_bp.get(f"{ALL_PARTITIONS}/studies/<study>/series/<series>/instances",
                       endpoint="search_for_instances_in_series")
@dicom_json_accept_filter
def search_all_partitions_for_instances_in_series(study: str, series: str):
    """Search the instances of one series in every partition."""
    return _search("series_instances", PathUids(validate_uid(study, STUDY),
                                                validate_uid(series, SERIES)), across=True)


def _search(resource: str, path: PathUids = PathUids(), across: bool = False) -> Response:
    config = current_app.config
    args = request.args.items(multi=True)
    limits = config["QIDO_DEFAULT_LIMIT"], config["QIDO_MAX_LIMIT"]
    if across:
        result = query_service.search_all_partitions(
            get_db(), version_base_url(), api_version(), resource, args, path, *limits)
    else:
        result = query_service.search(get_db(), searched_partition(), api_version(), resource,
                                      args, path, *limits)
        if result.partition is not None:
            partition_found(result.partition)
        else:
            current_partition()  # no rows: 400 if a partition given by name does not exist
    headers = {}
    if result.erroneous_keys:
        headers[ERRONEOUS_ATTRIBUTES_HEADER] = ",".join(result.erroneous_keys)
    if not result.datasets:
        return no_content(headers)
    return Response(result.body(), status=200, mimetype=media_types.DICOM_JSON,
                    headers=headers)

"""QIDO-RS: ``GET [/vN][/partitions/{p}]/studies|series|instances`` and the study/series-scoped
searches (PS3.18 §10.6, reference.md §5, decisions §6)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..dicomweb import media_types
from ..dicomweb.identifiers import SERIES, STUDY, validate_uid
from ..errors import NotAcceptableError
from ..partitioning import current_partition, scope
from ..services import query as query_service
from ..services.query import PathUids
from .edge import api_version, get_db, no_content

bp = scope(Blueprint("qido", __name__))

ERRONEOUS_ATTRIBUTES_HEADER = "erroneous-dicom-attributes"


@bp.get("/studies")
def search_for_studies():
    """Search all studies."""
    return _search("studies")


@bp.get("/series")
def search_for_series():
    """Search all series."""
    return _search("series")


@bp.get("/instances")
def search_for_instances():
    """Search all instances."""
    return _search("instances")


@bp.get("/studies/<study>/series")
def search_for_series_in_study(study: str):
    """Search the series of one study."""
    return _search("study_series", PathUids(validate_uid(study, STUDY)))


@bp.get("/studies/<study>/instances")
def search_for_instances_in_study(study: str):
    """Search the instances of one study."""
    return _search("study_instances", PathUids(validate_uid(study, STUDY)))


@bp.get("/studies/<study>/series/<series>/instances")
def search_for_instances_in_series(study: str, series: str):
    """Search the instances of one series."""
    return _search("series_instances", PathUids(validate_uid(study, STUDY),
                                                validate_uid(series, SERIES)))


def _search(resource: str, path: PathUids = PathUids()) -> Response:
    if not media_types.accepts_dicom_json(request.headers.get("Accept")):
        raise NotAcceptableError()
    config = current_app.config
    result = query_service.search(
        get_db(), current_partition().partition_key, api_version(), resource,
        request.args.items(multi=True), path, config["QIDO_DEFAULT_LIMIT"],
        config["QIDO_MAX_LIMIT"])
    headers = {}
    if result.erroneous_keys:
        headers[ERRONEOUS_ATTRIBUTES_HEADER] = ",".join(result.erroneous_keys)
    if not result.datasets:
        return no_content(headers)
    return Response(result.body(), status=200, mimetype=media_types.DICOM_JSON,
                    headers=headers)

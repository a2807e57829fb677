"""DELETE ``[/vN][/partitions/{p}]/studies/{study}[/series/{series}[/instances/{sop}]]``
(reference §6): 204 when deleted, 404 when absent, 400 for a bad UID."""
from __future__ import annotations

from flask import Blueprint, Response

from ..dicomweb.identifiers import SERIES, SOP, STUDY, validate_uid
from ..partitioning import current_partition, scope
from ..services import delete as service
from .edge import get_blobstore, get_db, no_content

bp = scope(Blueprint("delete", __name__))


@bp.delete("/studies/<study_instance_uid>")
def delete_study(study_instance_uid: str) -> Response:
    """Delete every instance of a study."""
    service.delete_study(get_db(), get_blobstore(), current_partition(),
                         validate_uid(study_instance_uid, STUDY))
    return no_content()


@bp.delete("/studies/<study_instance_uid>/series/<series_instance_uid>")
def delete_series(study_instance_uid: str, series_instance_uid: str) -> Response:
    """Delete every instance of a series."""
    service.delete_series(get_db(), get_blobstore(), current_partition(),
                          validate_uid(study_instance_uid, STUDY),
                          validate_uid(series_instance_uid, SERIES))
    return no_content()


@bp.delete("/studies/<study_instance_uid>/series/<series_instance_uid>/instances/"
           "<sop_instance_uid>")
def delete_instance(study_instance_uid: str, series_instance_uid: str,
                    sop_instance_uid: str) -> Response:
    """Delete one instance."""
    service.delete_instance(get_db(), get_blobstore(), current_partition(),
                            validate_uid(study_instance_uid, STUDY),
                            validate_uid(series_instance_uid, SERIES),
                            validate_uid(sop_instance_uid, SOP))
    return no_content()

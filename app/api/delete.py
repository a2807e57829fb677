"""DELETE ``[/vN][/partitions/{p}]/studies/{study}[/series/{series}[/instances/{instance}]]``
(reference.md §6): 204 when deleted, 404 when absent, 400 for a bad UID."""
from __future__ import annotations

from flask import Blueprint, Response

from ..dicomweb.identifiers import SERIES, SOP, STUDY, validate_uid
from ..partitioning import current_partition, scope
from ..services import delete as service
from .edge import get_blobstore, get_db, no_content

bp = scope(Blueprint("delete", __name__))


@bp.delete("/studies/<study>")
def delete_study(study: str) -> Response:
    """Delete every instance of a study."""
    service.delete_study(get_db(), get_blobstore(), current_partition(),
                         validate_uid(study, STUDY))
    return no_content()


@bp.delete("/studies/<study>/series/<series>")
def delete_series(study: str, series: str) -> Response:
    """Delete every instance of a series."""
    service.delete_series(get_db(), get_blobstore(), current_partition(),
                          validate_uid(study, STUDY), validate_uid(series, SERIES))
    return no_content()


@bp.delete("/studies/<study>/series/<series>/instances/<instance>")
def delete_instance(study: str, series: str, instance: str) -> Response:
    """Delete one instance."""
    service.delete_instance(get_db(), get_blobstore(), current_partition(),
                            validate_uid(study, STUDY), validate_uid(series, SERIES),
                            validate_uid(instance, SOP))
    return no_content()

"""Health check (reference.md §10): the database and the blob store."""
from __future__ import annotations

import logging
from typing import Any

from ..blobs import BlobStore
from ..dao import health as dao
from ..db import Database

logger = logging.getLogger(__name__)


def check_health(database: Database, blobs: BlobStore, min_free_bytes: int = 0
                 ) -> dict[str, Any]:
    """Run every check; return the reference's body shape. The blob store is unhealthy when
    a probe file cannot be written and read back, or with less than ``min_free_bytes`` free."""
    details = []

    def blob_check() -> None:
        blobs.check(min_free_bytes)

    for name, description, probe in (
            ("DicomBlobHealthCheck", blobs.description, blob_check),
            ("MetadataHealthCheck", "Metadata store", blob_check),
            ("DatabaseHealthCheck", f"Index database ({database.dialect})",
             lambda: _ping(database))):
        try:
            probe()
            status = "Healthy"
        except Exception as exc:  # any failure makes the check unhealthy
            logger.warning("Health check %s failed: %s", name, exc)
            status = "Unhealthy"
        details.append({"name": name, "status": status, "description": description})
    overall = "Healthy" if all(d["status"] == "Healthy" for d in details) else "Unhealthy"
    return {"overallStatus": overall, "details": details}


def _ping(database: Database) -> None:
    with database.connection() as conn:
        dao.ping(conn)

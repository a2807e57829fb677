"""Health check (reference §10): the database and the blob store."""
from __future__ import annotations

import logging
from typing import Any

from ..blobs import BlobStore
from ..db import Database

logger = logging.getLogger(__name__)


def check_health(database: Database, blobs: BlobStore) -> dict[str, Any]:
    """Run every check; return the reference's body shape."""
    details = []
    for name, description, probe in (
            ("DicomBlobHealthCheck", "Blob store", blobs.check),
            ("MetadataHealthCheck", "Metadata store", blobs.check),
            ("DatabaseHealthCheck", f"Index database ({database.dialect})",
             database.engine.ping)):
        try:
            probe()
            status = "Healthy"
        except Exception as exc:  # any failure makes the check unhealthy
            logger.warning("Health check %s failed: %s", name, exc)
            status = "Unhealthy"
        details.append({"name": name, "status": status, "description": description})
    overall = "Healthy" if all(d["status"] == "Healthy" for d in details) else "Unhealthy"
    return {"overallStatus": overall, "details": details}

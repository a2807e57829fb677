"""``GET /health/check`` (issue #2, reference.md §10)."""
from __future__ import annotations

import os


def test_health_check_healthy_returns_200(app, client):
    response = client.get("/health/check")
    assert response.status_code == 200
    body = response.json
    assert body["overallStatus"] == "Healthy"
    assert {d["name"] for d in body["details"]} >= {"DicomBlobHealthCheck",
                                                     "DatabaseHealthCheck"}
    assert all(d["status"] == "Healthy" for d in body["details"])


def test_health_check_unreachable_database_returns_503(tmp_path):
    from app import create_app

    app = create_app({"DATA_DIR": str(tmp_path), "SKIP_STARTUP": True, "LOG_LEVEL": "ERROR",
                      "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    response = app.test_client().get("/health/check")
    assert response.status_code == 503
    body = response.json
    assert body["overallStatus"] == "Unhealthy"
    database = [d for d in body["details"] if d["name"] == "DatabaseHealthCheck"][0]
    assert database["status"] == "Unhealthy"


def test_health_check_broken_blob_store_returns_503(app, client):
    blobs = app.extensions["dicom_blobs"]
    os.chmod(blobs.tmp, 0o500)
    try:
        if os.access(blobs.tmp, os.W_OK):  # root ignores permissions: break it differently
            blobs.tmp.rename(blobs.tmp.with_name("moved"))
            blobs.tmp.write_text("not a directory")
        response = client.get("/health/check")
    finally:
        if blobs.tmp.is_file():
            blobs.tmp.unlink()
            blobs.tmp.with_name("moved").rename(blobs.tmp)
        os.chmod(blobs.tmp, 0o755)
    assert response.status_code == 503
    assert response.json["overallStatus"] == "Unhealthy"

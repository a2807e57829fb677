"""Operations: ``GET /operations/{id}`` (issue #7, reference.md §9)."""
from __future__ import annotations

import uuid

import pytest

from app.worker import run_pending_once


def _queue(client, prefix=""):
    response = client.post(f"{prefix}/extendedquerytags",
                           json=[{"path": "PatientAge", "level": "Study"}])
    assert response.status_code == 202
    return response.json["id"]


@pytest.mark.parametrize("operation_id", ["0123456789abcdef0123456789abcdef", "not-a-guid", "1234"])
def test_get_operation_unknown_returns_404_empty(client, operation_id):
    response = client.get(f"/operations/{operation_id}")
    assert response.status_code == 404
    assert response.get_data() == b""


def test_get_operation_accepts_the_guid_forms_of_the_reference_only(client):
    """.NET's Guid.TryParse (the route's ``guid`` constraint): digits, dashed, in braces or
    parentheses, any case, around white space; anything else is no operation."""
    operation_id = _queue(client)
    dashed = str(uuid.UUID(operation_id))
    for form in (dashed.upper(), f"{{{dashed}}}", f"({dashed})", f"%20{operation_id}%20"):
        response = client.get(f"/v2/operations/{form}")
        assert response.status_code == 202, form
        assert response.json["operationId"] == operation_id
    for form in (f"urn:uuid:{dashed}", f"{operation_id[:4]}-{operation_id[4:]}",
                 f"-{operation_id}-", f"{{{operation_id}}}", f"{{{dashed})", f"[{dashed}]",
                 f"{dashed[:-1]}"):
        response = client.get(f"/v2/operations/{form}")
        assert (response.status_code, response.get_data()) == (404, b""), form


def test_get_operation_not_started_returns_202_with_location(client):
    operation_id = _queue(client)
    response = client.get(f"/v2/operations/{operation_id}")
    assert response.status_code == 202
    assert response.headers["Location"] == f"http://localhost/v2/operations/{operation_id}"
    body = response.json
    assert body["operationId"] == operation_id
    assert body["type"] == "reindex"
    assert body["status"] == "notStarted"
    assert body["percentComplete"] == 0
    assert body["resources"] == ["http://localhost/v2/extendedquerytags/00101010"]
    assert "results" not in body
    assert body["createdTime"] <= body["lastUpdatedTime"]


@pytest.mark.parametrize("prefix,status", [("", "succeeded"), ("/v2", "succeeded"),
                                           ("/v1", "completed"),
                                           ("/v1.0-prerelease", "completed")])
def test_get_operation_done_returns_200_status_per_version(make_app, prefix, status):
    app = make_app()
    client = app.test_client()
    operation_id = _queue(client)
    run_pending_once(app)
    response = client.get(f"{prefix}/operations/{operation_id}")
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.json["status"] == status
    assert response.json["percentComplete"] == 100
    dashed = str(uuid.UUID(operation_id))
    assert client.get(f"{prefix}/operations/{dashed}").json["operationId"] == operation_id

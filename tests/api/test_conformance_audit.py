"""Deviations found by the black-box conformance audit (reference.md §0.1, §0.2, §4.4, §5.1,
§5.4, §7, §8.1), each through the HTTP API on both databases and both partition modes."""
from __future__ import annotations

import pytest

from tests.api.helpers import DICOM_JSON, store
from tests.dicom_factory import make_dataset

BAD_UID = "1.a"


def _empty_406(response) -> None:
    assert response.status_code == 406, response.get_data(as_text=True)
    assert response.get_data() == b""


@pytest.mark.parametrize("prefix", ["", "/v1", "/v2"])
def test_accept_filter_is_406_with_empty_body_before_path_validation(client, base, prefix):
    """The Accept filter of QIDO, metadata and STOW is an action filter (reference.md §0.1):
    406 with an empty body, before the path UIDs are validated."""
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    bad_accept = {"Accept": "application/dicom"}
    study = ds.StudyInstanceUID
    for path in ("/studies", "/series", "/instances", f"/studies/{study}/series",
                 f"/studies/{study}/metadata", f"/studies/{BAD_UID}/series",
                 f"/studies/{BAD_UID}/instances", f"/studies/{BAD_UID}/series/1.2/instances",
                 f"/studies/{BAD_UID}/metadata", f"/studies/{BAD_UID}/series/1.2/metadata",
                 f"/studies/1.2/series/1.2/instances/{BAD_UID}/metadata"):
        _empty_406(client.get(f"{prefix}{base}{path}", headers=bad_accept))
    _empty_406(client.post(f"{prefix}{base}/studies/{BAD_UID}", data=b"x",
                           headers={**bad_accept, "Content-Type": "application/dicom"}))
    # a good Accept still gets the UID's 400
    response = client.get(f"{prefix}{base}/studies/{BAD_UID}/metadata",
                          headers={"Accept": DICOM_JSON})
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(
        "Dicom element 'StudyInstanceUid' failed validation for VR 'UI'")


@pytest.mark.parametrize("query,text", [
    # ASP.NET binds an empty value of a non-nullable int/bool as null: "The value '' is invalid."
    ("limit=", "'Limit' is invalid. The value '' is invalid."),
    ("limit=%20", "'Limit' is invalid. The value ' ' is invalid."),
    ("offset=", "'Offset' is invalid. The value '' is invalid."),
    ("fuzzymatching=", "'FuzzyMatching' is invalid. The value '' is invalid."),
    # beyond Int32 (limit) and Int64 (offset) the value does not bind at all
    ("limit=9999999999", "'Limit' is invalid. The value '9999999999' is not valid for Limit."),
    ("offset=99999999999999999999",
     "'Offset' is invalid. The value '99999999999999999999' is not valid for Offset."),
    ("offset=9223372036854775807&limit=1", None),
])
def test_qido_reserved_parameter_binding_texts(client, base, query, text):
    assert store(client, base, make_dataset()).status_code == 200
    response = client.get(f"{base}/studies?{query}", headers={"Accept": DICOM_JSON})
    if text is None:
        assert response.status_code == 204
        return
    assert response.status_code == 400
    assert response.get_data(as_text=True) == f"The query parameter {text}"


@pytest.mark.parametrize("path,text", [
    ("/extendedquerytags?limit=", "'Limit' is invalid. The value '' is invalid."),
    ("/extendedquerytags?offset=%20", "'Offset' is invalid. The value ' ' is invalid."),
    ("/extendedquerytags?limit=9999999999",
     "'Limit' is invalid. The value '9999999999' is not valid for Limit."),
    ("/extendedquerytags/PatientAge/errors?limit=",
     "'Limit' is invalid. The value '' is invalid."),
    ("/v1/changefeed?limit=%20", "'limit' is invalid. The value ' ' is invalid."),
    ("/v2/changefeed?offset=", "'Offset' is invalid. The value '' is invalid."),
    ("/changefeed?includeMetadata=%20",
     "'includeMetadata' is invalid. The value ' ' is invalid."),
])
def test_global_resources_binding_texts(client, path, text):
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == f"The query parameter {text}"


def test_json_bodies_allow_one_trailing_comma(client):
    """System.Text.Json's AllowTrailingCommas (reference.md §0.2)."""
    response = client.post("/extendedquerytags", data='[{"path": "PatientAge", '
                           '"level": "Study",},\n]', content_type="application/json")
    assert response.status_code == 202, response.get_data(as_text=True)
    response = client.patch("/extendedquerytags/PatientAge",
                            data='{"queryStatus": "Disabled" , }',
                            content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["queryStatus"] == "disabled"
    # still malformed: a comma with nothing before it, two commas, a comma after the end
    for body in ('[,]', '[{"path": "PatientSex", "level": "Study"},,]', '{,}',
                 '[{"path": "PatientSex", "level": "Study"}],'):
        response = client.post("/extendedquerytags", data=body,
                               content_type="application/json")
        assert response.status_code == 400, body
        assert response.get_data(as_text=True) == "The syntax of the request body is invalid."
    # a comma inside a string is a value, not a trailing comma
    response = client.post("/extendedquerytags", data='[{"path": "Patient,]", '
                           '"level": "Study"},]', content_type="application/json")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "The extended query tag 'Patient,]' is invalid as it cannot be parsed into a valid "
        "Dicom Tag.")


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_stow_consumes_filter_comes_first_with_an_empty_body(client, base, prefix):
    """STOW's ``[Consumes]`` (reference.md §3.1) is a resource filter: a Content-Type that is
    neither application/dicom nor multipart/related is 415 with an empty body, before the
    Accept filter (406) and the study UID (400); the store's own 415 texts stay for the rest."""
    body = b"\0" * 200
    for path in ("/studies", f"/studies/{BAD_UID}"):
        for accept in (DICOM_JSON, "text/html"):
            response = client.post(f"{prefix}{base}{path}", data=body,
                                   headers={"Content-Type": "text/plain", "Accept": accept})
            assert response.status_code == 415
            assert response.get_data() == b""
        _empty_406(client.post(f"{prefix}{base}{path}", data=body, headers={
            "Content-Type": "multipart/related", "Accept": "text/html"}))
    response = client.post(f"{prefix}{base}/studies", data=body,
                           headers={"Content-Type": "application/dicom; x=y"})
    assert response.status_code == 415
    assert response.get_data(as_text=True) == (
        "The specified content type 'application/dicom; x=y' is not supported.")
    response = client.post(f"{prefix}{base}/studies", data=body,
                           headers={"Content-Type": "multipart/related"})
    assert response.status_code == 415
    assert response.get_data(as_text=True) == (
        "The content type 'multipart/related' is either not multipart or is missing boundary.")

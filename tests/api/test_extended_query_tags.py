"""Extended query tags: add validation and management routes (issue #7, reference.md §8)."""
from __future__ import annotations

import json
import threading

import pytest

from app.worker import run_pending_once

INVALID_BODIES = [
    ([{"path": "", "level": "Study"}],
     "The field '[0].Path' in request body is invalid: The Dicom Tag Property Path must be "
     "specified and must not be null, empty or whitespace."),
    ([{"path": "PatientAge"}],
     "The field '[0].Level' in request body is invalid: The Dicom Tag Property Level must be "
     "specified and must not be null, empty or whitespace."),
    ([{"path": "PatientAge", "level": "Studys"}],
     "The field '$[0].Level' in request body is invalid: Expected value 'Studys' to be one of "
     "the following values: ['Instance', 'Series', 'Study']"),
    ([], "The extended query tag(s) is missing."),
    ([{"path": "PatientAge", "level": "Study"}, {"path": "PatientAge", "level": "Series"}],
     "The extended query tag 'PatientAge' has been specified before."),
    ([{"path": "PatientAgo", "level": "Study"}],
     "The extended query tag 'PatientAgo' is invalid as it cannot be parsed into a valid Dicom "
     "Tag."),
    ([{"path": "00101010.00100010", "level": "Study"}],
     "The extended query tag '00101010.00100010' is invalid as it cannot be parsed into a valid "
     "Dicom Tag."),
    ([{"path": "PatientName", "level": "Study"}],
     "The query tag 'PatientName' is already supported."),
    ([{"path": "00101010", "level": "Study", "privateCreator": "X"}],
     "The private creator is not empty for standard tag '00101010'."),
    ([{"path": "00091001", "vr": "LO", "level": "Study"}],
     "The private creator for private tag '00091001' is missing."),
    ([{"path": "00091001", "vr": "LO", "level": "Study", "privateCreator": "a" * 65}],
     "The private creator for tag '00091001' is not a valid LO attribute."),
    ([{"path": "00090010", "vr": "LO", "level": "Study", "privateCreator": "X"}],
     "The private creator is not empty for private identification code '00090010'."),
    ([{"path": "00101010", "vr": "XX", "level": "Study"}],
     "The VR code 'XX' for tag '00101010' is invalid."),
    ([{"path": "00101010", "vr": "cs", "level": "Study"}],
     "The VR code 'cs' is incorrectly specified for '00101010'. The expected VR code for it is "
     "'AS'. Retry this request either with the correct VR code or without specifying it."),
    ([{"path": "00091001", "level": "Study", "privateCreator": "X"}],
     "The vr for tag '00091001' is missing."),
    ([{"path": "PatientWeight", "level": "Study"}],
     "The VR code 'DS' specified for tag 'PatientWeight' is not supported."),
    ([{"path": "00091001", "vr": "OB", "level": "Study", "privateCreator": "X"}],
     "The VR code 'OB' specified for tag '00091001' is not supported."),
    ({"path": "PatientAge", "level": "Study"},
     "The field '$' in request body is invalid: The JSON value could not be converted to an "
     "array of extended query tag entries."),
    ([{"path": 5, "level": "Study"}],
     "The field '$[0].Path' in request body is invalid: The JSON value could not be converted "
     "to System.String."),
    (["PatientAge"],
     "The field '$[0]' in request body is invalid: The JSON value could not be converted to "
     "AddExtendedQueryTagEntry."),
]


@pytest.fixture
def client(make_app):
    """One partition mode is enough: tags and operations are global."""
    return make_app().test_client()


def _add(client, *entries, prefix=""):
    return client.post(f"{prefix}/extendedquerytags", json=list(entries))


def test_add_extended_query_tags_invalid_bodies_return_400(client):
    for body, message in INVALID_BODIES:
        response = client.post("/extendedquerytags", json=body)
        assert (response.status_code, response.get_data(as_text=True)) == (400, message), body
        assert response.mimetype == "text/plain"
    assert client.get("/extendedquerytags").json == []


def test_add_extended_query_tags_malformed_json_returns_400(client):
    response = client.post("/extendedquerytags", data=b"[{\"path\": ",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "The syntax of the request body is invalid."


def test_add_extended_query_tags_not_json_returns_415(client):
    response = client.post("/extendedquerytags", data=b"[]",
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.get_data() == b""


@pytest.mark.parametrize("prefix", ["", "/v1", "/v2"])
def test_add_extended_query_tags_valid_returns_202_with_operation(client, prefix):
    response = _add(client, {"Path": "PatientAge", "Level": "STUDY"},
                    {"path": "00091001", "vr": "lo", "privateCreator": "ACME", "level": "series"},
                    prefix=prefix)
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    operation_id = response.json["id"]
    assert len(operation_id) == 32 and int(operation_id, 16) >= 0
    href = f"http://localhost{prefix}/operations/{operation_id}"
    assert response.json["href"] == href
    assert response.headers["Location"] == href
    tags = client.get(f"{prefix}/extendedquerytags").json
    assert tags == [
        {"path": "00101010", "vr": "AS", "level": "study", "status": "adding",
         "queryStatus": "enabled",
         "operation": {"id": operation_id, "href": href}},
        {"path": "00091001", "vr": "LO", "privateCreator": "ACME", "level": "series",
         "status": "adding", "queryStatus": "enabled",
         "operation": {"id": operation_id, "href": href}},
    ]


def test_add_extended_query_tags_existing_tag_returns_409(client, make_app):
    app = client.application
    assert _add(client, {"path": "PatientAge", "level": "Study"}).status_code == 202
    run_pending_once(app)
    response = _add(client, {"path": "00101010", "level": "Study"},
                    {"path": "Manufacturer", "level": "Series"})
    assert response.status_code == 409
    assert response.get_data(as_text=True) == "One or more extended query tags already exist."
    assert len(client.get("/extendedquerytags").json) == 1


def test_add_extended_query_tags_while_reindex_active_returns_409_with_location(client):
    first = _add(client, {"path": "PatientAge", "level": "Study"}).json["id"]
    response = _add(client, {"path": "Manufacturer", "level": "Series"}, prefix="/v2")
    assert response.status_code == 409
    assert response.get_data(as_text=True) == (
        f"There is already an active re-index operation with ID '{first}'.")
    assert response.headers["Location"] == f"http://localhost/v2/operations/{first}"


def test_add_extended_query_tags_over_max_count_returns_503(make_app):
    client = make_app(MAX_EXTENDED_QUERY_TAGS=2).test_client()
    response = _add(client, {"path": "PatientAge", "level": "Study"},
                    {"path": "Manufacturer", "level": "Series"},
                    {"path": "InstanceCreationDate", "level": "Instance"})
    assert response.status_code == 503
    assert response.get_data(as_text=True) == (
        "Extended query tags exceeds max allowed count '2'.")


def test_add_extended_query_tags_ten_thousand_tags_returns_503(client):
    entries = [{"path": f"0009{0x1000 + i:04X}", "vr": "LO", "privateCreator": "ACME",
                "level": "Study"} for i in range(10000)]
    response = client.post("/extendedquerytags", data=json.dumps(entries),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 503
    assert response.get_data(as_text=True) == (
        "Extended query tags exceeds max allowed count '128'.")
    assert client.get("/extendedquerytags").json == []


def test_add_extended_query_tags_concurrent_same_tag_one_wins(client):
    app = client.application
    results = []

    def post():
        with app.test_client() as own:
            results.append(_add(own, {"path": "PatientAge", "level": "Study"}).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [202, 409, 409, 409]
    assert len(client.get("/extendedquerytags").json) == 1


def test_get_extended_query_tag_by_keyword_or_path(client):
    _add(client, {"path": "PatientAge", "level": "Study"})
    run_pending_once(client.application)
    for path in ("PatientAge", "00101010", "00101010".lower()):
        response = client.get(f"/v1/extendedquerytags/{path}")
        assert response.status_code == 200
        assert response.json == {"path": "00101010", "vr": "AS", "level": "study",
                                 "status": "ready", "queryStatus": "enabled"}


def test_get_extended_query_tag_unknown_returns_404_bad_path_400(client):
    response = client.get("/extendedquerytags/PatientAge")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == (
        "The specified extended query tag with tag path 00101010 cannot be found.")
    response = client.get("/extendedquerytags/Nope")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "The extended query tag 'Nope' is invalid as it cannot be parsed into a valid Dicom Tag.")


def test_list_extended_query_tags_paging(client):
    _add(client, {"path": "PatientAge", "level": "Study"},
         {"path": "Manufacturer", "level": "Series"},
         {"path": "InstanceCreationDate", "level": "Instance"})
    assert [t["path"] for t in client.get("/extendedquerytags?limit=2&offset=1").json] == [
        "00080070", "00080012"]
    assert client.get("/extendedquerytags?offset=3").json == []
    for query, message in (
            ("limit=0", "The query parameter 'Limit' is invalid. The field Limit must be "
                        "between 1 and 200."),
            ("limit=201", "The query parameter 'Limit' is invalid. The field Limit must be "
                          "between 1 and 200."),
            ("limit=abc", "The query parameter 'Limit' is invalid. The value 'abc' is not valid "
                          "for Limit."),
            ("limit=1_0", "The query parameter 'Limit' is invalid. The value '1_0' is not valid "
                          "for Limit."),
            ("offset=-1", "The query parameter 'Offset' is invalid. The field Offset must be "
                          "between 0 and 2147483647.")):
        response = client.get(f"/extendedquerytags?{query}")
        assert (response.status_code, response.get_data(as_text=True)) == (400, message)


def test_delete_extended_query_tag_while_reindex_runs_returns_400(client):
    _add(client, {"path": "PatientAge", "level": "Study"})
    response = client.delete("/extendedquerytags/PatientAge")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "The extended query tag '00101010' is being processed.")


def test_delete_extended_query_tag_ready_returns_204_then_404(client):
    _add(client, {"path": "PatientAge", "level": "Study"})
    run_pending_once(client.application)
    response = client.delete("/v1/extendedquerytags/00101010")
    assert response.status_code == 204
    assert client.get("/extendedquerytags/PatientAge").status_code == 404
    assert client.delete("/extendedquerytags/PatientAge").status_code == 404
    # deleted: it can be added again
    assert _add(client, {"path": "PatientAge", "level": "Series"}).status_code == 202


def test_update_extended_query_tag_query_status(client):
    _add(client, {"path": "PatientAge", "level": "Study"})
    run_pending_once(client.application)
    response = client.patch("/extendedquerytags/PatientAge", json={"QueryStatus": "Disabled"})
    assert response.status_code == 200
    assert response.json["queryStatus"] == "disabled"
    response = client.patch("/extendedquerytags/00101010", json={"queryStatus": "enabled"})
    assert response.json["queryStatus"] == "enabled"


def test_update_extended_query_tag_invalid_bodies_return_400(client):
    _add(client, {"path": "PatientAge", "level": "Study"})
    for body, message in (
            ({"queryStatus": "Enabled", "level": "Study"}, 'The field is not supported: "level".'),
            ({}, "The field 'QueryStatus' in request body is invalid: The QueryStatus field is "
                 "required."),
            ({"queryStatus": "On"}, "The field '$.QueryStatus' in request body is invalid: "
             "Expected value 'On' to be one of the following values: ['Disabled', 'Enabled']"),
            ([], "The field '$' in request body is invalid: The JSON value could not be "
                 "converted to UpdateExtendedQueryTagOptions.")):
        response = client.patch("/extendedquerytags/PatientAge", json=body)
        assert (response.status_code, response.get_data(as_text=True)) == (400, message), body
    response = client.patch("/extendedquerytags/Manufacturer", json={"queryStatus": "Enabled"})
    assert response.status_code == 404


def test_list_extended_query_tag_errors_unknown_tag_returns_404(client):
    response = client.get("/extendedquerytags/PatientAge/errors")
    assert response.status_code == 404

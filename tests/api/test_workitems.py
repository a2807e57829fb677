"""UPS-RS create, retrieve and update through HTTP (issue #18, reference-2.md §1.2-1.4, §1.7, §1.8):
both databases, both partition modes."""
from __future__ import annotations

import json

import pytest
from pydicom.uid import generate_uid

from tests.api.workitem_support import (DICOM_JSON, JSON_HEADERS, body, change_state, create,
                                        el, retrieve, update, workitem)

UID_ERROR = ("Dicom element '{}' failed validation for VR 'UI': DICOM Identifier is invalid. "
             "Value length should not exceed the maximum length of 64 characters. "
             "Value should contain characters in '0'-'9' and '.'. "
             "Each component must start with non-zero number.")


def _count(client, base) -> int:
    """The workitems of the partition (0 when nothing, or not even the partition, exists)."""
    response = client.get(f"{base}/workitems", headers={"Accept": DICOM_JSON})
    if response.status_code == 400:
        assert response.get_data(as_text=True) == "Specified PartitionName does not exist."
        return 0
    return 0 if response.status_code == 204 else len(response.get_json())


@pytest.mark.parametrize("prefix", ["", "/v1", "/v2"])
def test_create_workitem_returns_201_with_location(client, base, prefix):
    uid = generate_uid()
    response = create(client, f"{prefix}{base}", uid=uid)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_data() == b""
    expected = f"http://localhost{prefix}{base}/workitems/{uid}"
    assert response.headers["Location"] == expected
    assert response.headers["Content-Location"] == expected


def test_create_workitem_sets_server_attributes_and_retrieve_omits_transaction_uid(client, base):
    uid = generate_uid()
    ds = workitem(**{"00741000": el("CS", "COMPLETED"), "00741202": el("LO", "mine"),
                     "00080016": el("UI", "1.2.3")})
    assert create(client, base, ds, uid=uid).status_code == 201
    response = client.get(f"{base}/workitems/{uid}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200
    assert response.mimetype == DICOM_JSON
    stored = response.get_json()
    assert stored["00741000"] == el("CS", "SCHEDULED")
    assert stored["00741202"] == el("LO", "worklist")
    assert stored["00080016"] == el("UI", "1.2.840.10008.5.1.4.34.6.1")
    assert stored["00080018"] == el("UI", uid)
    assert len(stored["00404010"]["Value"][0]) == 21  # ScheduledProcedureStepModificationDateTime
    assert "00081195" not in stored
    assert stored["00100010"] == el("PN", {"Alphabetic": "Doe^Jane"})


def test_create_workitem_without_query_uid_takes_the_payload_uid(client, base):
    uid = generate_uid()
    response = client.post(f"{base}/workitems", data=body(workitem(uid)), headers=JSON_HEADERS)
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/workitems/{uid}")
    assert retrieve(client, base, uid)["00080018"] == el("UI", uid)


def test_create_existing_workitem_returns_409(client, base):
    uid = generate_uid()
    assert create(client, base, uid=uid).status_code == 201
    response = create(client, base, workitem(patient_id="OTHER"), uid=uid)
    assert response.status_code == 409
    assert response.mimetype == DICOM_JSON
    assert response.get_json() == ("The workitem instance already exists. Try creating using a "
                                   "different UID.")
    assert "Warning" not in response.headers
    assert retrieve(client, base, uid)["00100020"] == el("LO", "PID-1")


def _without(*keys: str):
    ds = workitem()
    for key in keys:
        del ds[key]
    return ds


CREATE_RULE_CASES = [
    (_without("00081195"), "The required tag '(0008,1195)' is missing."),
    (workitem(**{"00081195": el("UI", "1.2.3")}),
     "The attribute with tag '(0008,1195)' must be empty."),
    (_without("00741200"), "The required tag '(0074,1200)' is missing."),
    (workitem(**{"00741204": el("LO")}), "The value for tag '(0074,1204)' is missing."),
    (workitem(**{"00741204": el("LO", "   ")}),
     "The attribute with tag '(0074,1204)' must not be empty."),
    (_without("00404005"), "The required tag '(0040,4005)' is missing."),
    (_without("00404041"), "The required tag '(0040,4041)' is missing."),
    (_without("00404025"), "The required tag '(0040,4025)' is missing."),
    (workitem(**{"00404025": el("SQ", {"00080100": el("SH", "X")})}),
     "The required tag '(0008,0104)' is missing."),
    (_without("00100010"), "The required tag '(0010,0010)' is missing."),
    (workitem(**{"00100030": el("DA")}), "The value for tag '(0010,0030)' is missing."),
    (_without("00380010"), "The required tag '(0038,0010)' is missing."),
    (workitem(**{"00081084": el("SQ")}), "The value for tag '(0008,1084)' is missing."),
    (workitem(**{"0040A370": el("SQ", {"00080050": el("SH", "A")})}),
     "The required tag '(0020,000d)' is missing."),
    (workitem(**{"00741002": el("SQ", {"00741004": el("DS", "50")})}),
     "The attribute with tag '(0074,1004)' cannot be present."),
    (workitem(**{"00741216": el("SQ", {"00404050": el("DT", "20240101")})}),
     "The attribute with tag '(0040,4050)' cannot be present."),
    (workitem(**{"00404021": el("SQ", {"0040E020": el("CS", "DICOM")})}),
     "The required tag '(0008,1199)' is missing."),
]


def test_create_workitem_failing_a_requirement_returns_400_json_string(client, base):
    for ds, message in CREATE_RULE_CASES:
        response = create(client, base, ds)
        assert response.status_code == 400, message
        assert response.mimetype == DICOM_JSON
        assert response.get_json() == message
        assert "Warning" not in response.headers
    assert _count(client, base) == 0


def test_create_workitem_bad_requests_return_400_text(client, base):
    uid = generate_uid()
    response = create(client, base, workitem("1.2.3"), uid=uid)
    assert (response.status_code, response.mimetype) == (400, "text/plain")
    assert response.get_data(as_text=True) == ("SOPInstanceUID in the payload does not match the "
                                               "workitem query parameter.")
    response = create(client, base, uid="1.2.abc")
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, UID_ERROR.format("WorkitemInstanceUid"))
    response = client.post(f"{base}/workitems?workitem=1.2.3", data=body(workitem()),
                           headers=JSON_HEADERS)
    assert response.get_data(as_text=True) == UID_ERROR.format("WorkitemInstanceUid")
    response = client.post(f"{base}/workitems", data=body(_without()), headers=JSON_HEADERS)
    assert response.get_json() == "The required tag '(0008,0018)' is missing."
    assert _count(client, base) == 0


BAD_BODIES = [
    ("", "The request body is missing."),
    ("{not json", "The query parameter 'dicomDatasets' is invalid. The request body is not "
                  "valid JSON."),
    ("{}", "The query parameter 'dicomDatasets' is invalid. The request body must be a JSON "
           "array of DICOM datasets."),
    ("[]", "The query parameter 'dicomDatasets' is invalid. The request body must be a JSON "
           "array of DICOM datasets."),
    ("[1]", "The query parameter 'dicomDatasets' is invalid. Each item of the request body must "
            "be a DICOM JSON dataset."),
    ('[{"PatientName": {"vr": "PN"}}]', "The query parameter 'dicomDatasets' is invalid. "
                                        "'PatientName' is not a DICOM JSON attribute tag."),
    ('[{"00100010": {"vr": "XX"}}]', "The query parameter 'dicomDatasets' is invalid. The "
                                     "attribute '00100010' has no valid VR."),
    ('[{"00100010": {"vr": "PN", "Value": "x"}}]', "The query parameter 'dicomDatasets' is "
                                                   "invalid. The value of '00100010' must be an "
                                                   "array."),
    ('[{"00404025": {"vr": "SQ", "Value": [1]}}]', "The query parameter 'dicomDatasets' is "
                                                   "invalid. The items of '00404025' must be "
                                                   "DICOM JSON datasets."),
    ('[{"00404025": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": [{}]}}]}}]',
     "The query parameter 'dicomDatasets' is invalid. The attribute '00404025.00080100' has a "
     "value its VR cannot hold."),
]


def test_create_workitem_unreadable_body_returns_400_text(client, base):
    for data, message in BAD_BODIES:
        response = client.post(f"{base}/workitems?{generate_uid()}", data=data,
                               headers=JSON_HEADERS)
        assert (response.status_code, response.mimetype) == (400, "text/plain"), data
        assert response.get_data(as_text=True) == message
    assert _count(client, base) == 0


def test_create_workitem_wrong_media_types_and_size(make_app, partition_mode, base):
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                   WORKITEM_MAX_BODY_SIZE=10000)
    client = app.test_client()
    data = body(workitem())
    response = client.post(f"{base}/workitems", data=data,
                           headers={"Content-Type": "application/json"})
    assert (response.status_code, response.get_data()) == (415, b"")
    response = client.post(f"{base}/workitems", data=data,
                           headers={"Content-Type": DICOM_JSON, "Accept": "application/dicom"})
    assert (response.status_code, response.get_data()) == (406, b"")
    big = body(workitem(**{"00400400": el("LT", "x" * 20000)}))
    response = client.post(f"{base}/workitems", data=big, headers=JSON_HEADERS)
    assert response.status_code == 413
    assert response.get_data(as_text=True) == ("The request exceeded the allowed limit of 10000 "
                                               "bytes.")
    assert _count(client, base) == 0


def test_retrieve_unknown_or_invalid_workitem(client, base):
    create(client, base)  # the partition exists
    response = client.get(f"{base}/workitems/1.2.3", headers={"Accept": DICOM_JSON})
    assert (response.status_code, response.mimetype) == (404, DICOM_JSON)
    assert response.get_json() == "The workitem instance is not found."
    response = client.get(f"{base}/workitems/1.2.x", headers={"Accept": DICOM_JSON})
    assert (response.status_code, response.mimetype) == (400, "text/plain")
    assert response.get_data(as_text=True) == UID_ERROR.format("WorkitemInstanceUid")
    response = client.get(f"{base}/workitems/1.2.3", headers={"Accept": "image/png"})
    assert response.status_code == 406


def test_update_scheduled_workitem_merges_top_level_attributes(client, base):
    uid = generate_uid()
    create(client, base, uid=uid)
    before = retrieve(client, base, uid)
    response = update(client, base, uid, {"00741204": el("LO", "New label"),
                                          "00081195": el("UI", "9.9.9")})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data() == b""
    assert response.headers["Content-Location"] == f"http://localhost{base}/workitems/{uid}"
    assert "Warning" not in response.headers
    after = retrieve(client, base, uid)
    assert after["00741204"] == el("LO", "New label")
    assert after["00404010"] != before["00404010"]
    assert after["00100010"] == before["00100010"]
    # the body's TransactionUID is not taken over: only a claim sets the owner
    assert change_state(client, base, uid, "IN PROGRESS", "1.5.5").status_code == 200
    assert update(client, base, uid, {}, "9.9.9").status_code == 400


UPDATE_REFUSALS = [
    # (setup, transaction uid in the query, status, message)
    ("absent", None, 400, "The target URI did not reference a claimed Workitem."),
    ("scheduled", "1.5.5", 400, "Invalid TransactionUID for the specified Workitem Instance UID."),
    ("in progress", None, 400, "The target URI did not reference a claimed Workitem."),
    ("in progress", "1.5.6", 400, "The target URI did not reference a claimed Workitem."),
    ("canceled", None, 409, "The submitted request is inconsistent with the current state of the "
                            "Workitem. The UPS is already in the requested state of CANCELED."),
]


def test_update_refused_by_state_changes_nothing(client, base):
    create(client, base)  # the partition exists
    for setup, transaction_uid, status, message in UPDATE_REFUSALS:
        _check_update_refused(client, base, setup, transaction_uid, status, message)


def _check_update_refused(client, base, setup, transaction_uid, status, message):
    uid = generate_uid()
    if setup != "absent":
        create(client, base, uid=uid)
    if setup == "in progress":
        change_state(client, base, uid, "IN PROGRESS", "1.5.5")
    if setup == "canceled":
        client.post(f"{base}/workitems/{uid}/cancelrequest", data="[{}]", headers=JSON_HEADERS)
    before = retrieve(client, base, uid) if setup != "absent" else None
    response = update(client, base, uid, {"00741204": el("LO", "changed")}, transaction_uid)
    assert response.status_code == status
    assert response.get_json() == message
    assert response.headers["Warning"] == f'299 localhost: "{message}"'
    if before is not None:
        assert retrieve(client, base, uid) == before


def test_update_failing_a_rule_returns_400_and_plain_text_without_accept(client, base):
    uid = generate_uid()
    create(client, base, uid=uid)
    before = retrieve(client, base, uid)
    response = update(client, base, uid, {"00100010": el("PN", {"Alphabetic": "X"})},
                      headers={"Content-Type": DICOM_JSON})
    assert (response.status_code, response.mimetype) == (400, "text/plain")
    message = "The attribute with tag '(0010,0010)' cannot be present."
    assert response.get_data(as_text=True) == message
    assert response.headers["Warning"] == f'299 localhost: "{message}"'
    response = update(client, base, uid, {"00741216": el("SQ", {"00404050": el("DT", "2024")})})
    assert response.get_json() == "The required tag '(0040,4033)' is missing."
    response = update(client, base, uid, {"00741200": el("CS")})
    assert response.get_json() == "The value for tag '(0074,1200)' is missing."
    assert retrieve(client, base, uid) == before


def test_update_completed_workitem_returns_400(client, base):
    from tests.api.workitem_support import completion_update
    uid = generate_uid()
    create(client, base, uid=uid)
    change_state(client, base, uid, "IN PROGRESS", "1.5.5")
    assert update(client, base, uid, completion_update(), "1.5.5").status_code == 200
    assert change_state(client, base, uid, "COMPLETED", "1.5.5").status_code == 200
    response = update(client, base, uid, {}, "1.5.5")
    assert response.status_code == 400
    assert response.get_json() == ("The submitted request is inconsistent with the current state "
                                   "of the Workitem. The UPS is already COMPLETED.")


def test_update_with_invalid_transaction_uid_returns_400_text(client, base):
    uid = generate_uid()
    create(client, base, uid=uid)
    response = update(client, base, uid, {}, "1.a")
    assert (response.status_code, response.mimetype) == (400, "text/plain")
    assert response.get_data(as_text=True) == UID_ERROR.format("TransactionUid")
    response = client.post(f"{base}/workitems/{uid}", data=json.dumps([{}]),
                           headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.get_data()) == (415, b"")


def _nested(depth: int) -> dict:
    item: dict = {"00080100": el("SH", "x")}
    for _ in range(depth):
        item = {"00081110": {"vr": "SQ", "Value": [item]}}
    return item


def test_deeply_nested_bodies_are_400_not_500(client, base):
    """Python's JSON reader recurses per level: a body nested past its limit was a
    RecursionError (500) on every workitem route; sequences nest at most 64 levels."""
    uid = generate_uid()
    assert create(client, base, workitem(**_nested(64)), uid=uid).status_code == 201
    assert retrieve(client, base, uid)["00081110"]["vr"] == "SQ"
    too_deep = create(client, base, workitem(**_nested(65)))
    assert too_deep.status_code == 400
    assert "nests sequences deeper than 64 levels" in too_deep.get_data(as_text=True)
    deep_json = ("[" * 50_000 + "]" * 50_000).encode()
    for method, url in (("POST", f"{base}/workitems?{generate_uid()}"),
                        ("POST", f"{base}/workitems/{uid}"),
                        ("PUT", f"{base}/workitems/{uid}/state"),
                        ("POST", f"{base}/workitems/{uid}/cancelrequest")):
        response = client.open(url, method=method, data=deep_json, headers=JSON_HEADERS)
        assert (response.status_code, response.get_data(as_text=True)) == (
            400, "The query parameter 'dicomDatasets' is invalid. "
                 "The request body is not valid JSON."), url


def test_binary_values_must_be_strings(client, base):
    """InlineBinary and BulkDataURI are strings (PS3.18 F.2.7). An array nested 900 deep was
    stored as sent (only sequences counted towards the depth limit), then the next state change
    re-encoded it past the JSON writer's recursion limit: a 500."""
    nested = "[" * 900 + '"AAAA"' + "]" * 900
    for key in ("InlineBinary", "BulkDataURI"):
        text = body(workitem(**{"00091001": {"vr": "OB", key: "PLACEHOLDER"}}))
        response = client.post(f"{base}/workitems?{generate_uid()}",
                               data=text.replace('"PLACEHOLDER"', nested), headers=JSON_HEADERS)
        assert (response.status_code, response.get_data(as_text=True)) == (
            400, "The query parameter 'dicomDatasets' is invalid. "
                 "The attribute '00091001' has a value its VR cannot hold."), key
    uid = generate_uid()
    ds = workitem(**{"00091001": {"vr": "OB", "InlineBinary": "AAAA"}})
    assert create(client, base, ds, uid=uid).status_code == 201
    assert retrieve(client, base, uid)["00091001"] == {"vr": "OB", "InlineBinary": "AAAA"}
    assert change_state(client, base, uid, "IN PROGRESS", generate_uid()).status_code == 200

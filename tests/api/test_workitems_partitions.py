"""Workitems and data partitions (issue #18, reference-2.md §1.10, decisions §2): isolation,
implicit creation by create only, the partition errors."""
from __future__ import annotations

from pydicom.uid import generate_uid

from tests.api.workitem_support import (DICOM_JSON, JSON_HEADERS, change_state, create, el,
                                        retrieve, update, workitem)


def _names(client) -> list[str]:
    return [p["partitionName"] for p in client.get("/partitions").get_json()]


def test_create_in_new_partition_creates_it_and_failed_create_does_not(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    bad = workitem(**{"00081195": el("UI", "1.2")})
    assert create(client, "/partitions/Typo", bad).status_code == 400
    assert "Typo" not in _names(client)
    response = create(client, "/v1/partitions/NewSite", uid="1.2.3")
    assert response.status_code == 201
    assert response.headers["Location"] == "http://localhost/v1/partitions/NewSite/workitems/1.2.3"
    assert "NewSite" in _names(client)
    assert retrieve(client, "/partitions/NewSite", "1.2.3")["00080018"] == el("UI", "1.2.3")


def test_same_workitem_uid_in_two_partitions_is_two_workitems(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    uid = generate_uid()
    assert create(client, "/partitions/A", workitem(patient_id="IN-A"), uid=uid).status_code == 201
    assert create(client, "/partitions/B", workitem(patient_id="IN-B"), uid=uid).status_code == 201
    assert create(client, "/partitions/A", uid=uid).status_code == 409
    assert retrieve(client, "/partitions/A", uid)["00100020"] == el("LO", "IN-A")
    assert retrieve(client, "/partitions/B", uid)["00100020"] == el("LO", "IN-B")
    # a claim in A is invisible in B
    assert change_state(client, "/partitions/A", uid, "IN PROGRESS", "1.7").status_code == 200
    assert retrieve(client, "/partitions/B", uid)["00741000"] == el("CS", "SCHEDULED")
    assert update(client, "/partitions/B", uid, {}, "1.7").status_code == 400
    for name, patient in (("A", "IN-A"), ("B", "IN-B")):
        found = client.get(f"/partitions/{name}/workitems?PatientID=*",
                           headers={"Accept": DICOM_JSON}).get_json()
        assert [ds["00100020"]["Value"][0] for ds in found] == [patient]
    response = client.get("/partitions/C/workitems?PatientID=IN-A",
                          headers={"Accept": DICOM_JSON})
    assert response.status_code == 400
    create(client, "/partitions/C")
    response = client.get(f"/partitions/C/workitems/{uid}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 404


def test_workitem_routes_answer_the_partition_errors(make_app):
    on = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    routes = [("POST", "/workitems"), ("GET", "/workitems"), ("GET", "/workitems/1.2"),
              ("POST", "/workitems/1.2"), ("PUT", "/workitems/1.2/state"),
              ("POST", "/workitems/1.2/cancelrequest")]
    for method, path in routes:
        response = on.open(path, method=method, data="[{}]", headers=JSON_HEADERS)
        assert response.status_code == 400, path
        assert response.get_data(as_text=True) == ("PartitionName value is missing in the route "
                                                   "segment.")
        if method != "POST" or path != "/workitems":
            response = on.open(f"/partitions/Nowhere{path}", method=method, data="[{}]",
                               headers=JSON_HEADERS)
            assert response.get_data(as_text=True) == "Specified PartitionName does not exist."
    off = make_app(ENABLE_DATA_PARTITIONS=False).test_client()
    for method, path in routes:
        response = off.open(f"/partitions/A{path}", method=method, data="[{}]",
                            headers=JSON_HEADERS)
        assert response.status_code == 400
        assert response.get_data(as_text=True) == "Data partitions feature is disabled."
    assert create(off, "/partitions/A.B..C").status_code == 400

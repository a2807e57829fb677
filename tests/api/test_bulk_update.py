"""Bulk update (issue #19, reference-2.md §2): request checks, the update operation, the
original version, delete of both versions, partitions."""
from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone

import pydicom
import pytest

from app.api.edge import get_database
from app.dao import operations as operations_dao
from app.services.partitions import get_or_add_partition
from app.worker import run_pending_once
from tests.api.helpers import DICOM_JSON, store, values
from tests.dicom_factory import make_dataset, sample_file, to_bytes, uid

URL = "/studies/$bulkUpdate"
JSON_TYPE = {"Content-Type": "application/json"}
NEW_NAME = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Updated^Jane"}]}}


@pytest.fixture(autouse=True)
def _partition(app, base):
    """The partitioned routes need the partition to exist (no implicit creation)."""
    if base:
        with get_database(app).connection() as conn, conn.transaction(write=True):
            get_or_add_partition(conn, base.rsplit("/", 1)[1])


def _post(client, base, body, prefix="/v2", headers=JSON_TYPE):
    data = body if isinstance(body, (bytes, str)) else None
    return client.post(f"{prefix}{base}{URL}", data=data,
                       json=None if data is not None else body, headers=headers)


def _update(client, base, studies, change=None, prefix="/v2"):
    response = _post(client, base, {"studyInstanceUids": studies,
                                    "changeDataset": change or NEW_NAME}, prefix)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.json


def _run(app, client, operation):
    assert run_pending_once(app) >= 1
    response = client.get(f"/v2/operations/{operation['id']}")
    assert response.status_code == 200, response.json
    return response.json


def _instance_url(base, ds):
    return (f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def _file(client, base, ds, original=False):
    headers = {"Accept": "application/dicom; transfer-syntax=*"}
    if original:
        headers["msdicom-request-original"] = "True"
    response = client.get(_instance_url(base, ds), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def _metadata(client, base, ds, original=False):
    headers = {"Accept": DICOM_JSON}
    if original:
        headers["msdicom-request-original"] = "true"
    response = client.get(_instance_url(base, ds) + "/metadata", headers=headers)
    assert response.status_code == 200
    return response.json[0], response.headers["ETag"]


def _name(dataset):
    return values(dataset, "00100010")[0]["Alphabetic"]


# --- Request checks (reference-2.md §2.1) ---------------------------------------------------

@pytest.mark.parametrize(("body", "text"), [
    ({"studyInstanceUids": ["1.2.3"]}, "Value can not be null. (Parameter 'ChangeDataset')"),
    ({"changeDataset": NEW_NAME},
     "The required field 'StudyInstanceUids' is missing or empty."),
    ({"studyInstanceUids": [], "changeDataset": NEW_NAME},
     "The required field 'StudyInstanceUids' is missing or empty."),
    ({"studyInstanceUids": [f"1.2.{n}" for n in range(51)], "changeDataset": NEW_NAME},
     "StudyInstanceUids count exceeded maximum length '50'"),
    ({"studyInstanceUids": ["1.2.abc"], "changeDataset": NEW_NAME},
     "Dicom element 'StudyInstanceUid' failed validation for VR 'UI': DICOM Identifier is "
     "invalid. Value length should not exceed the maximum length of 64 characters. Value "
     "should contain characters in '0'-'9' and '.'. Each component must start with non-zero "
     "number."),
    ("{not json", "The syntax of the request body is invalid."),
    ({"studyInstanceUids": "1.2.3", "changeDataset": NEW_NAME},
     "The syntax of the request body is invalid."),
    ({"studyInstanceUids": ["1.2.3"], "changeDataset": ["not", "an", "object"]},
     "The syntax of the request body is invalid."),
])
def test_request_errors_have_the_reference_texts(client, base, body, text):
    response = _post(client, base, body)
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == text


def test_property_names_are_case_insensitive(client, base):
    response = _post(client, base, {"StudyInstanceUIDs": ["1.2.3"], "CHANGEDATASET": NEW_NAME})
    assert response.status_code == 202


def test_elements_that_may_not_change_are_listed_in_a_dataset(client, base):
    change = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
              "00100020": {"vr": "LO", "Value": ["x" * 65]},
              "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B"}]}}
    response = _post(client, base, {"studyInstanceUids": ["1.2.3"], "changeDataset": change})
    assert response.status_code == 400
    assert response.mimetype == DICOM_JSON
    comments = [values(item, "00000902")[0] for item in values(response.json, "00741048")]
    assert comments == [
        "DICOM100: (0010,0020) - Dicom element 'PatientID' failed validation for VR 'LO': "
        "Value length exceeds maximum length of 64.",
        "DICOM100: (0020,000d) - Updating the tag is not supported"]


def test_a_body_above_the_json_limit_is_413(client, base):
    body = b'{"studyInstanceUids": ["' + b"1" * (1024 * 1024) + b'"]}'
    response = _post(client, base, body)
    assert response.status_code == 413
    assert response.get_data(as_text=True) == (
        "The request exceeded the allowed limit of 1048576 bytes.")


def test_other_content_types_are_415_and_v1_is_404(client, base):
    body = {"studyInstanceUids": ["1.2.3"], "changeDataset": NEW_NAME}
    response = _post(client, base, b"{}", headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.data) == (415, b"")
    for prefix in ("/v1", "/v1.0-prerelease"):
        response = _post(client, base, body, prefix)
        assert (response.status_code, response.data) == (404, b"")
    assert _post(client, base, body, "").status_code == 202  # unversioned is v2


def test_one_active_update_for_the_whole_server(client, base):
    first = _update(client, base, ["1.2.3"])
    assert set(first) == {"id", "href"}
    assert first["href"].endswith(f"/v2/operations/{first['id']}")
    response = _post(client, base, {"studyInstanceUids": ["1.2.4"], "changeDataset": NEW_NAME})
    assert response.status_code == 409
    assert response.get_data(as_text=True) == (
        f"There is already an active update operation with ID '{first['id']}'.")
    assert "Location" not in response.headers


def test_the_database_refuses_a_second_active_update(app, client, base):
    """Two requests racing past the check: the unique index keeps one (migration 0090)."""
    _update(client, base, ["1.2.3"])
    database = get_database(app)
    with pytest.raises(database.engine.integrity_errors):
        with database.connection() as conn, conn.transaction(write=True):
            operations_dao.add_operation(conn, uuid.uuid4().hex, operations_dao.UPDATE, [],
                                         {}, datetime.now(timezone.utc))


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_partition_must_exist(client):
    response = _post(client, "/partitions/Nowhere",
                     {"studyInstanceUids": ["1.2.3"], "changeDataset": NEW_NAME})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Specified PartitionName does not exist."


# --- The operation (reference-2.md §2.3-2.5) -------------------------------------------------

def test_update_rewrites_every_instance_and_keeps_the_original(app, client, base):
    study, series = uid(), uid()
    first, second = make_dataset(study, series), make_dataset(study, series)
    other = make_dataset()
    assert store(client, base, first, second, other).status_code == 200
    stored_bytes = _file(client, base, first)
    before, etag_before = _metadata(client, base, first)
    study_etag = client.get(f"{base}/studies/{study}/metadata").headers["ETag"]

    operation = _run(app, client, _update(client, base, [study, uid()]))
    assert operation["type"] == "update"
    assert operation["status"] == "succeeded"
    assert operation["percentComplete"] == 100
    assert operation["results"] == {"studyProcessed": 2, "studyUpdated": 1, "studyFailed": 0,
                                    "instanceUpdated": 2}

    current, etag = _metadata(client, base, first)
    assert _name(current) == "Updated^Jane"
    assert etag != etag_before
    assert client.get(f"{base}/studies/{study}/metadata").headers["ETag"] != study_etag
    original, original_etag = _metadata(client, base, first, original=True)
    assert original == before and original_etag == etag  # ETags name the current version
    updated = pydicom.dcmread(io.BytesIO(_file(client, base, first)))
    assert str(updated.PatientName) == "Updated^Jane"
    assert updated.PixelData == first.PixelData
    assert updated.StudyDescription == first.StudyDescription
    assert _file(client, base, first, original=True) == stored_bytes
    # Never updated: the header changes nothing.
    assert _file(client, base, other, original=True) == _file(client, base, other)
    found = client.get(f"{base}/studies?PatientName=updated^jane").json
    assert [values(s, "0020000D") for s in found] == [[study]]
    untouched = client.get(f"{base}/studies?StudyInstanceUID={other.StudyInstanceUID}").json
    assert _name(untouched[0]) == "Doe^John"


def test_a_real_file_keeps_everything_after_the_patient_and_study_groups(app, client, base):
    """Only the part of the file before group 0041 is written again; the rest (the pixel data
    of a 2.8 MB RGB image here) is copied byte for byte."""
    data = sample_file("red-triangle.dcm")
    ds = pydicom.dcmread(io.BytesIO(data))
    assert store(client, base, data).status_code == 200
    _run(app, client, _update(client, base, [ds.StudyInstanceUID]))
    updated = _file(client, base, ds)
    assert str(pydicom.dcmread(io.BytesIO(updated)).PatientName) == "Updated^Jane"
    tail = data[data.index(b"\xe0\x7f\x10\x00"):]  # from (7FE0,0010) on
    assert updated.endswith(tail) and len(tail) > 2_000_000
    assert _file(client, base, ds, original=True) == data


def test_change_feed_has_an_update_entry_per_instance(app, client, base):
    study, series = uid(), uid()
    datasets = [make_dataset(study, series) for _ in range(2)]
    assert store(client, base, *datasets).status_code == 200
    _run(app, client, _update(client, base, [study]))
    feed = client.get(f"/v2{base}/changefeed?includeMetadata=true").json
    ours = [e for e in feed if e["studyInstanceUid"] == study]
    assert [(e["action"], e["state"]) for e in ours] == [
        ("Create", "Replaced"), ("Create", "Replaced"), ("Update", "Current"),
        ("Update", "Current")]
    assert all(_name(e["metadata"]) == "Updated^Jane" for e in ours)


def test_extended_query_tag_values_are_reindexed(app, client, base):
    study = uid()
    assert store(client, base, make_dataset(study, PatientSex="M")).status_code == 200
    response = client.post("/extendedquerytags", json=[{"path": "PatientSex", "level": "Study"}])
    assert response.status_code == 202
    run_pending_once(app)
    assert len(client.get(f"{base}/studies?PatientSex=M").json) == 1
    _run(app, client, _update(client, base, [study], {"00100040": {"vr": "CS", "Value": ["F"]}}))
    assert client.get(f"{base}/studies?PatientSex=M").status_code == 204
    assert [values(s, "0020000D") for s in client.get(f"{base}/studies?PatientSex=F").json] \
        == [[study]]


def test_only_the_original_and_the_newest_version_are_kept(app, client, base):
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    blobs = app.extensions["dicom_blobs"]
    original = set(blobs.keys())
    _run(app, client, _update(client, base, [ds.StudyInstanceUID]))
    after_first = set(blobs.keys())
    assert len(after_first - original) == 1
    _run(app, client, _update(client, base, [ds.StudyInstanceUID],
                              {"00081030": {"vr": "LO", "Value": ["Second"]}}))
    kept = set(blobs.keys())
    assert original <= kept and not (after_first - original) & kept  # intermediate removed
    newest = pydicom.dcmread(io.BytesIO(_file(client, base, ds)))
    assert (str(newest.PatientName), newest.StudyDescription) == ("Updated^Jane", "Second")
    assert _file(client, base, ds, original=True) == to_bytes(ds)


def test_delete_removes_both_versions_and_their_files(app, client, base):
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    _run(app, client, _update(client, base, [ds.StudyInstanceUID]))
    blobs = app.extensions["dicom_blobs"]
    assert len(list(blobs.keys())) == 2
    assert client.delete(_instance_url(base, ds)).status_code == 204
    assert list(blobs.keys()) == []
    for original in (False, True):
        headers = {"Accept": "application/dicom; transfer-syntax=*"}
        if original:
            headers["msdicom-request-original"] = "true"
        assert client.get(_instance_url(base, ds), headers=headers).status_code == 404


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_delete_keeps_an_original_file_another_instance_shares(app, client):
    """The same bytes stored in two partitions are one file; updating and deleting the copy in
    one partition leaves the other's file."""
    ds = make_dataset()
    for name in ("SiteA", "SiteB"):
        assert store(client, f"/partitions/{name}", ds).status_code == 200
    _run(app, client, _update(client, "/partitions/SiteA", [ds.StudyInstanceUID]))
    blobs = app.extensions["dicom_blobs"]
    assert len(list(blobs.keys())) == 2  # the shared original and SiteA's updated file
    assert client.delete(f"/partitions/SiteA/studies/{ds.StudyInstanceUID}").status_code == 204
    assert len(list(blobs.keys())) == 1
    assert _file(client, "/partitions/SiteB", ds) == to_bytes(ds)
    assert client.delete(f"/partitions/SiteB/studies/{ds.StudyInstanceUID}").status_code == 204
    assert list(blobs.keys()) == []


def test_unreadable_instance_fails_its_study_only(app, client, base):
    bad, good = make_dataset(), make_dataset()
    assert store(client, base, bad, good).status_code == 200
    blobs = app.extensions["dicom_blobs"]
    key = next(k for k in blobs.keys() if blobs.path(k).read_bytes() == to_bytes(bad))
    blobs.path(key).write_bytes(b"not dicom")
    operation = _run(app, client, _update(client, base, [bad.StudyInstanceUID,
                                                         good.StudyInstanceUID]))
    assert operation["status"] == "failed"
    partition = "SiteA" if base else "Microsoft.Default"
    assert operation["results"] == {
        "studyProcessed": 2, "studyUpdated": 1, "studyFailed": 1, "instanceUpdated": 1,
        "errors": [f"Failed to update instances for study {bad.StudyInstanceUID}",
                   f"Failed to update instance. PartitionKey: {partition}, StudyInstanceUID: "
                   f"{bad.StudyInstanceUID}, SeriesInstanceUID: {bad.SeriesInstanceUID}, "
                   f"SOPInstanceUID: {bad.SOPInstanceUID}"]}
    assert _name(_metadata(client, base, bad)[0]) == "Doe^John"  # nothing of it committed
    assert _name(_metadata(client, base, good)[0]) == "Updated^Jane"


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_an_update_in_one_partition_never_touches_another(app, client):
    ds = make_dataset()
    for name in ("SiteA", "SiteB"):
        assert store(client, f"/partitions/{name}", ds).status_code == 200
    _run(app, client, _update(client, "/partitions/SiteA", [ds.StudyInstanceUID]))
    assert _name(_metadata(client, "/partitions/SiteA", ds)[0]) == "Updated^Jane"
    assert _name(_metadata(client, "/partitions/SiteB", ds)[0]) == "Doe^John"
    assert _file(client, "/partitions/SiteB", ds) == to_bytes(ds)


def test_non_ascii_values_make_an_ascii_file_utf8(app, client, base):
    ds = make_dataset(SpecificCharacterSet=None)
    assert store(client, base, ds).status_code == 200
    change = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Zoë"}]}}
    _run(app, client, _update(client, base, [ds.StudyInstanceUID], change))
    updated = pydicom.dcmread(io.BytesIO(_file(client, base, ds)))
    assert (updated.SpecificCharacterSet, str(updated.PatientName)) == ("ISO_IR 192",
                                                                        "Müller^Zoë")
    assert values(_metadata(client, base, ds)[0], "00080005") == ["ISO_IR 192"]

"""Conformance gaps of issue #21 (reference.md §3.4, §3.6, §5.3), each through the HTTP API on
both databases and both partition modes."""
from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.uid import DeflatedExplicitVRLittleEndian

from app.services.instance_index import EMPTY_PATIENT_ID
from tests.api.helpers import DICOM_JSON, store, values
from tests.api.stow_support import (WARNING_REASON, comments, failed, failure_reasons,
                                    referenced)
from tests.api.workitem_support import create
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

ACCEPT = {"Accept": DICOM_JSON}


def _assert_no_content(response) -> None:
    assert response.status_code == 204, response.get_data(as_text=True)
    assert "Content-Type" not in response.headers
    assert response.get_data() == b""


def test_every_204_has_no_content_type(client, base):
    accept = {"Accept": DICOM_JSON}
    _assert_no_content(client.get("/changefeed/latest"))
    body, content_type = multipart([])
    _assert_no_content(client.post(f"{base}/studies", data=body,
                                   headers={"Content-Type": content_type, **accept}))
    ds = make_dataset()
    assert store(client, base, ds, headers=accept).status_code == 200
    _assert_no_content(client.get(f"{base}/studies?PatientID=nobody", headers=accept))
    _assert_no_content(client.get(f"{base}/series?Modality=XX", headers=accept))
    assert create(client, base).status_code == 201
    _assert_no_content(client.get(f"{base}/workitems?PatientID=nobody", headers=accept))
    _assert_no_content(client.delete(f"{base}/studies/{ds.StudyInstanceUID}"))


@pytest.mark.parametrize("keyword,tag", [("StudyInstanceUID", "0020,000d"),
                                         ("SeriesInstanceUID", "0020,000e"),
                                         ("SOPInstanceUID", "0008,0018")])
def test_multi_valued_identifier_fails_43264(client, base, keyword, tag):
    ds = make_dataset()
    setattr(ds, keyword, [uid(), uid()])
    response = store(client, base, ds)
    assert response.status_code == 409, response.get_data(as_text=True)
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == [
        f"DICOM100: ({tag}) - Dicom element '{keyword}' failed validation for VR 'UI': Value "
        "contains more than one value."]
    assert client.get("/changefeed").json == []  # nothing stored


def _patient_id_bytes(value: bytes) -> bytes:
    """A Part-10 file whose PatientID holds exactly ``value`` (pydicom would trim NULs), NUL
    padded to an even length."""
    value += b"\x00" * (len(value) % 2)
    data = to_bytes(make_dataset(PatientID="P" * len(value)))
    element = b"\x10\x00\x20\x00LO" + len(value).to_bytes(2, "little")
    assert data.count(element + b"P" * len(value)) == 1
    return data.replace(element + b"P" * len(value), element + value)


INVALID_CHARACTER = ("DICOM100: (0010,0020) - Dicom element 'PatientID' failed validation for "
                     "VR 'LO': Value contains invalid character.")
TOO_LONG = ("DICOM100: (0010,0020) - Dicom element 'PatientID' failed validation for VR 'LO': "
            "Value length exceeds maximum length of 64.")


@pytest.mark.parametrize("prefix,value,expected", [
    ("/v1", b"Before Null Character, \x00", INVALID_CHARACTER),
    ("/v1", b"123\x00", INVALID_CHARACTER),
    ("/v2", b"\x00123\x00", INVALID_CHARACTER),
    ("", b"\x00123\x00", INVALID_CHARACTER),
    ("/v2", b"X" * 66, TOO_LONG),
    ("", b"X" * 66, TOO_LONG)])
def test_invalid_patient_id_fails_43264(client, base, prefix, value, expected):
    response = store(client, base, _patient_id_bytes(value), prefix=prefix)
    assert response.status_code == 409, response.get_data(as_text=True)
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == [expected]


@pytest.mark.parametrize("prefix", ["/v2", ""])
def test_patient_id_with_trailing_nul_padding_stores_cleanly(client, base, prefix):
    response = store(client, base, _patient_id_bytes(b"123\x00"), prefix=prefix)
    assert response.status_code == 200, response.get_data(as_text=True)
    [item] = referenced(response.json)
    assert WARNING_REASON not in item and comments(item) == []
    found = client.get(f"{prefix}{base}/studies?PatientID=123", headers=ACCEPT)
    assert found.status_code == 200 and len(found.json) == 1


@pytest.mark.parametrize("prefix", ["/v2", ""])
def test_empty_patient_id_warns_and_never_overwrites_a_study_value(client, base, prefix):
    study = uid()
    assert store(client, base, make_dataset(study, PatientID="PID-1"),
                 prefix=prefix).status_code == 200
    newer = make_dataset(study)
    newer.PatientID = ""
    response = store(client, base, newer, prefix=prefix)
    assert response.status_code == 202, response.get_data(as_text=True)
    [item] = referenced(response.json)
    assert values(item, WARNING_REASON) == [1]
    assert comments(item) == [f"DICOM100: (0010,0020) - {EMPTY_PATIENT_ID}"]
    search = f"{prefix}{base}/studies?StudyInstanceUID={study}&includefield=PatientID"
    assert values(client.get(search, headers=ACCEPT).json[0], "00100020") == ["PID-1"]
    # Delete's recompute keeps the latest non-empty value too.
    newest = make_dataset(study, series_uid=newer.SeriesInstanceUID)
    newest.PatientID = ""
    assert store(client, base, newest, prefix=prefix).status_code == 202
    assert client.delete(f"{prefix}{base}/studies/{study}/series/{newer.SeriesInstanceUID}"
                         f"/instances/{newer.SOPInstanceUID}").status_code == 204
    assert values(client.get(search, headers=ACCEPT).json[0], "00100020") == ["PID-1"]


def test_trailing_nul_padding_is_searchable_with_or_without_it(client, base):
    ds = make_dataset(Modality="X")
    data = to_bytes(ds).replace(b"\x08\x00\x60\x00CS\x02\x00X ", b"\x08\x00\x60\x00CS\x02\x00X\x00")
    assert data != to_bytes(ds)
    assert store(client, base, data).status_code == 200
    for query in ("Modality=X", "Modality=X%00"):
        response = client.get(f"{base}/series?{query}", headers=ACCEPT)
        assert response.status_code == 200, (query, response.get_data(as_text=True))
        assert [values(s, "0020000E") for s in response.json] == [[ds.SeriesInstanceUID]]
    assert client.get(f"{base}/series?Modality=%00X", headers=ACCEPT).status_code == 400


def _deflated(ds) -> bytes:
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_deflated_file_is_stored_and_retrieved(client, base):
    ds = make_dataset()
    data = _deflated(ds)
    response = store(client, base, data)
    assert response.status_code == 200, response.get_data(as_text=True)
    url = (f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    stored = client.get(url, headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert stored.status_code == 200 and data in stored.get_data()
    transcoded = client.get(url, headers={
        "Accept": 'multipart/related; type="application/dicom"; '
                  'transfer-syntax=1.2.840.10008.1.2.1'})
    assert transcoded.status_code == 200
    body = transcoded.get_data()
    part = body[body.index(b"\r\n\r\n") + 4:body.rindex(b"\r\n--")]
    copy = dcmread(io.BytesIO(part))
    assert copy.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert copy.PixelData == ds.PixelData and copy.PatientID == "PID-1"
    assert client.get(f"{base}/studies?PatientID=PID-1", headers=ACCEPT).status_code == 200


def test_truncated_deflated_file_fails_43264_with_a_comment(client, base):
    data = _deflated(make_dataset())
    response = store(client, base, data[:-20])
    assert response.status_code == 409, response.get_data(as_text=True)
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == [
        "DICOM100: The DICOM instance is invalid. Its deflated data cannot be inflated."]

"""STOW-RS validation and bad input (issue #3, reference.md §3.4, §3.5).

Every bad-input test first stores a good instance, then checks that the bad request neither
breaks the server nor touches what was stored before.
"""
from __future__ import annotations

import json
import struct

import pytest

from tests.api.helpers import store, values
from tests.api.stow_support import (WARNING_REASON, blob_files, comments, count, failed,
                                    failure_reasons, referenced, rows, temp_files)
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

UID_ERROR = ("failed validation for VR 'UI': DICOM Identifier is invalid. Value length should "
             "not exceed the maximum length of 64 characters. Value should contain characters "
             "in '0'-'9' and '.'. Each component must start with non-zero number.")


def _without_preamble() -> bytes:
    return to_bytes(make_dataset())[128:]


def _without(ds, keyword: str):
    delattr(ds, keyword)
    return ds


def _truncated(fraction: float, size: int = 16, **attrs):
    def make() -> bytes:
        data = to_bytes(make_dataset(rows=size, columns=size, **attrs))
        return data[:int(len(data) * fraction)]
    return make


INVALID = "DICOM100: The DICOM instance is invalid. "
NOT_PART10 = [INVALID + "The part is not a DICOM PS3.10 file (no 128-byte preamble followed by "
              "'DICM')."]
TRUNCATED = [INVALID + "The file is truncated."]
BAD_PARTS = {
    "zero-byte part": (lambda: b"", [INVALID + "The part is empty."]),
    "not DICOM at all": (lambda: b"%PDF-1.4 definitely not DICOM" * 40, NOT_PART10),
    "no preamble": (_without_preamble, NOT_PART10),
    "truncated in pixel data": (_truncated(0.9), TRUNCATED),
    "truncated in header": (_truncated(0.4), TRUNCATED),
    "truncated in file meta": (_truncated(0.15), [
        INVALID + "The file meta information has no transfer syntax."]),
    # Beyond the head of a part that is parsed in memory (store.HEAD_SIZE):
    "truncated in pixel data of a large image": (_truncated(0.9, size=256), TRUNCATED),
    "truncated in a header longer than the head": (
        _truncated(0.2, size=256, ImageComments="x" * 60000), TRUNCATED),
    "missing StudyInstanceUID": (lambda: to_bytes(make_dataset(StudyInstanceUID=None)),
                                 ["DICOM100: (0020,000d) - The required tag '(0020,000d)' is "
                                  "missing."]),
    "missing SeriesInstanceUID": (lambda: to_bytes(make_dataset(SeriesInstanceUID=None)),
                                  ["DICOM100: (0020,000e) - The required tag '(0020,000e)' is "
                                   "missing."]),
    "missing SOPClassUID": (lambda: to_bytes(_without(make_dataset(), "SOPClassUID")),
                            ["DICOM100: (0008,0016) - The required tag '(0008,0016)' is "
                             "missing."]),
    "UID with letters": (lambda: to_bytes(make_dataset(sop_uid="1.2.3.abc")),
                         [f"DICOM100: (0008,0018) - Dicom element 'SOPInstanceUID' {UID_ERROR}"]),
    "UID over 64 characters": (lambda: to_bytes(make_dataset(series_uid="1." + "2" * 64)),
                               [f"DICOM100: (0020,000e) - Dicom element 'SeriesInstanceUID' "
                                f"{UID_ERROR}"]),
}


@pytest.fixture
def stored(make_app):
    """An app with one good instance stored; returns (app, client, instance rows, blob files)."""
    app = make_app()
    client = app.test_client()
    assert store(client, "", make_dataset()).status_code == 200
    return app, client, rows(app, "SELECT * FROM instances"), blob_files(app)


def _assert_untouched(stored) -> None:
    app, client, before, files = stored
    assert rows(app, "SELECT * FROM instances") == before
    assert blob_files(app) == files and all(f.stat().st_size > 0 for f in files)
    assert temp_files(app) == []
    assert store(client, "", make_dataset()).status_code == 200  # still serving


@pytest.mark.parametrize("case", list(BAD_PARTS))
def test_store_bad_part_returns_409_with_43264(stored, case):
    make, expected_comments = BAD_PARTS[case]
    response = store(stored[1], "", make())
    assert response.status_code == 409, response.data
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == expected_comments
    _assert_untouched(stored)


@pytest.mark.parametrize("case", ["unterminated", "missing closing boundary", "not multipart"])
def test_store_malformed_multipart_returns_400(stored, case):
    body, content_type = multipart([to_bytes(make_dataset())])
    if case == "unterminated":
        body = body[:len(body) // 2]
    elif case == "missing closing boundary":
        body = body[:body.rindex(b"--", 0, len(body) - 4)]
    else:
        body = b"just some bytes without any boundary"
    response = stored[1].post("/studies", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("The multipart request is invalid")
    _assert_untouched(stored)


def test_store_garbage_after_closing_boundary_is_ignored(stored):
    body, content_type = multipart([to_bytes(make_dataset())])
    body += b"epilogue garbage \x00\xff--not-a-boundary--\r\n" * 100
    response = stored[1].post("/studies", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert count(stored[0], "instances") == 2


def test_store_preamble_before_first_boundary_is_ignored(stored):
    body, content_type = multipart([to_bytes(make_dataset())])
    response = stored[1].post("/studies", data=b"preamble text\r\n" + body,
                              headers={"Content-Type": content_type})
    assert response.status_code == 200


def test_store_study_uid_mismatch_returns_409_and_no_study_url(stored):
    response = store(stored[1], "", make_dataset(), study=uid())
    assert response.status_code == 409
    assert failure_reasons(response.json) == [43264]
    assert "00081190" not in response.json
    _assert_untouched(stored)


def test_store_v1_invalid_indexed_attribute_fails_instance(make_app):
    app = make_app()
    response = store(app.test_client(), "", make_dataset(StudyDate="NotADate"), prefix="/v1")
    assert response.status_code == 409
    [item] = failed(response.json)
    assert values(item, "00081197") == [43264]
    assert comments(item) == ["DICOM100: (0008,0020) - Dicom element 'StudyDate' failed "
                              "validation for VR 'DA': Value cannot be parsed as a valid date."]
    assert count(app, "instances") == 0


def test_store_v2_invalid_indexed_attribute_stores_with_warning(make_app):
    app = make_app()
    response = store(app.test_client(), "", make_dataset(StudyDate="NotADate"), prefix="/v2")
    assert response.status_code == 202
    [item] = referenced(response.json)
    assert values(item, WARNING_REASON) == [1]
    assert comments(item) == ["DICOM100: (0008,0020) - Dicom element 'StudyDate' failed "
                              "validation for VR 'DA': Value cannot be parsed as a valid date."]
    [meta] = rows(app, "SELECT dataset FROM instance_metadata")
    assert "00080020" not in json.loads(meta["dataset"])  # dropped from metadata, not the file
    assert rows(app, "SELECT study_date FROM studies") == [{"study_date": None}]


def test_store_v2_invalid_other_attribute_warns_v1_ignores(make_app):
    client = make_app().test_client()
    v2 = store(client, "", make_dataset(InstitutionName="x" * 70), prefix="/v2")
    assert v2.status_code == 202
    assert comments(referenced(v2.json)[0]) == [
        "DICOM100: (0008,0080) - Dicom element 'InstitutionName' failed validation for VR "
        "'LO': Value length exceeds maximum length of 64."]
    v1 = store(client, "", make_dataset(InstitutionName="x" * 70), prefix="/v1")
    assert v1.status_code == 200
    assert WARNING_REASON not in referenced(v1.json)[0]


@pytest.mark.parametrize("prefix,status", [("/v1", 200), ("/v2", 202), ("", 202)])
def test_store_implicit_vr_file_warns_45063(make_app, prefix, status):
    client = make_app().test_client()
    response = store(client, "", to_bytes(make_dataset(), implicit=True), prefix=prefix)
    assert response.status_code == status
    assert values(referenced(response.json)[0], WARNING_REASON) == [45063]


@pytest.mark.parametrize("prefix,patient_id,status", [
    ("/v1", None, 409), ("/v1", "", 409), ("/v2", None, 409), ("/v2", "", 202)])
def test_store_patient_id_rules_by_version(make_app, prefix, patient_id, status):
    ds = make_dataset(PatientID=patient_id)
    if patient_id == "":
        ds.PatientID = ""
    response = store(make_app().test_client(), "", ds, prefix=prefix)
    assert response.status_code == status
    if status == 409:
        assert comments(failed(response.json)[0]) == [
            "DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing."]


@pytest.mark.parametrize("prefix,header", [("/v1", True), ("/v2", False)])
def test_store_multivalued_indexed_tag_warning_header(make_app, prefix, header):
    ds = make_dataset()
    ds.AccessionNumber = ["A1", "A2"]
    response = store(make_app().test_client(), "", ds, prefix=prefix)
    assert response.status_code == 200
    expected = ('299 localhost: "One or more indexed Dicom tag(s) have multiple values, only '
                'first value is indexed."')
    assert response.headers.get("Warning") == (expected if header else None)


def test_store_boundary_longer_than_parser_limit_returns_400(stored):
    boundary = "b" * 1000
    body, _ = multipart([to_bytes(make_dataset())], boundary=boundary)
    response = stored[1].post("/studies", data=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == (
        "The multipart request is invalid: Boundary length 1000 exceeds maximum of 256")
    _assert_untouched(stored)


def _with_undecodable_fd(ds) -> bytes:
    """(0018,9087) Diffusion b-value, FD, with a 5-byte value: not a whole number of doubles."""
    ds.add_new(0x00189087, "FD", 1.0)
    data = to_bytes(ds)
    good = struct.pack("<HH2sH", 0x0018, 0x9087, b"FD", 8) + struct.pack("<d", 1.0)
    assert data.count(good) == 1
    return data.replace(good, struct.pack("<HH2sH", 0x0018, 0x9087, b"FD", 5) + b"\x00" * 5)


UNDECODABLE = ("DICOM100: (0018,9087) - Dicom element 'DiffusionBValue' failed validation for "
               "VR 'FD': Value cannot be decoded.")


def test_store_v1_part_with_undecodable_element_fails_43264_naming_the_instance(stored):
    ds = make_dataset()
    response = store(stored[1], "", _with_undecodable_fd(ds), prefix="/v1")
    assert response.status_code == 409, response.data
    assert failure_reasons(response.json) == [43264]
    item = failed(response.json)[0]
    assert values(item, "00081155") == [ds.SOPInstanceUID]
    assert values(item, "00081150") == [ds.SOPClassUID]
    assert comments(item) == [UNDECODABLE]
    _assert_untouched(stored)


def test_store_v2_part_with_undecodable_element_is_stored_with_a_warning(stored):
    app, client = stored[0], stored[1]
    ds = make_dataset()
    response = store(client, "", _with_undecodable_fd(ds), prefix="/v2")
    assert response.status_code == 202, response.data
    item = referenced(response.json)[0]
    assert values(item, WARNING_REASON) == [1]  # v2: dataset has validation warnings
    assert comments(item) == [UNDECODABLE]
    metadata = client.get(f"/v2/studies/{ds.StudyInstanceUID}/metadata",
                          headers={"Accept": "application/dicom+json"}).json[0]
    assert "00189087" not in metadata and values(metadata, "00100020") == ["PID-1"]
    assert count(app, "instances") == 2


"""UPS-RS search (issue #18, reference-2.md §1.9, decisions §6): the searchable keys, matching,
returned attributes, paging and the error texts."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from pydicom.uid import generate_uid

from tests.api.workitem_support import (DICOM_JSON, change_state, create, el, update, workitem)

NOT_QUERYABLE = ("Invalid query: AttributeId {} is not queryable.  If the parameter is an "
                 "attribute keyword, check the casing as they are case-sensitive. The "
                 "conformance statement has a list of supported query parameters, attributes "
                 "and the levels.")
STUDY_A, STUDY_B = "1.2.840.5.1", "1.2.840.5.2"


def _search(client, base, query: str) -> list[str]:
    """The SOP Instance UIDs found, newest first ([] for 204)."""
    response = client.get(f"{base}/workitems?{query}", headers={"Accept": DICOM_JSON})
    if response.status_code == 204:
        assert response.get_data() == b""
        return []
    assert response.status_code == 200, (query, response.get_data(as_text=True))
    return [ds["00080018"]["Value"][0] for ds in response.get_json()]


@pytest.fixture
def worklist(client, base):
    """Three workitems (oldest first): Müller/CT, Muller/MR claimed, Smith/CT other study."""
    uids = ["1.2.9.1", "1.2.9.2", "1.2.9.3"]
    create(client, base, workitem(patient_name="Müller^Anna", patient_id="Pid-7",
                                  start="20240301080000", accession="ACC-1", station="CT1",
                                  study_uid=STUDY_A), uid=uids[0])
    create(client, base, workitem(patient_name="MULLER^Hans", patient_id="PID-8",
                                  start="20240301120000.5", accession="ACC-2", station="MR1",
                                  study_uid=STUDY_A), uid=uids[1])
    create(client, base, workitem(patient_name="Smith^John", patient_id="X-9",
                                  start="20240302090000", accession="ACC-3", station="CT1",
                                  study_uid=STUDY_B), uid=uids[2])
    assert change_state(client, base, uids[1], "IN PROGRESS", "1.5.5").status_code == 200
    return uids


MATCHES = [
    ("", ["1.2.9.3", "1.2.9.2", "1.2.9.1"]),
    ("PatientName=muller^anna", ["1.2.9.1"]),  # case and accents ignored
    ("PatientName=MÜLLER^HANS", ["1.2.9.2"]),
    ("PatientName=mul*", ["1.2.9.2", "1.2.9.1"]),
    ("PatientName=*", ["1.2.9.3", "1.2.9.2", "1.2.9.1"]),
    ("PatientName=han&fuzzymatching=true", ["1.2.9.2"]),
    ("PatientName=mu&fuzzymatching=true", ["1.2.9.2", "1.2.9.1"]),
    ("00100010=smith^john", ["1.2.9.3"]),
    ("PatientID=pid-7", ["1.2.9.1"]),
    ("PatientID=PID-?", ["1.2.9.2", "1.2.9.1"]),
    ("ProcedureStepState=IN%20PROGRESS", ["1.2.9.2"]),
    ("ProcedureStepState=scheduled", ["1.2.9.3", "1.2.9.1"]),
    ("ProcedureStepState=COMPLETED", []),
    ("ScheduledProcedureStepStartDateTime=20240301", []),  # exact: midnight only
    ("ScheduledProcedureStepStartDateTime=20240301080000", ["1.2.9.1"]),
    ("ScheduledProcedureStepStartDateTime=20240301-20240301235959", ["1.2.9.2", "1.2.9.1"]),
    ("ScheduledProcedureStepStartDateTime=20240301100000-", ["1.2.9.3", "1.2.9.2"]),
    ("ScheduledProcedureStepStartDateTime=-2024030108", ["1.2.9.1"]),
    ("StudyInstanceUID=" + STUDY_A, ["1.2.9.2", "1.2.9.1"]),
    (f"StudyInstanceUID={STUDY_B},9.9", ["1.2.9.3"]),
    ("ReferencedRequestSequence.AccessionNumber=acc-2", ["1.2.9.2"]),
    ("0040A370.00080050=ACC-*", ["1.2.9.3", "1.2.9.2", "1.2.9.1"]),
    ("ReferencedRequestSequence.RequestedProcedureID=RP-1", ["1.2.9.3", "1.2.9.2", "1.2.9.1"]),
    ("ScheduledStationNameCodeSequence.CodeValue=ct1", ["1.2.9.3", "1.2.9.1"]),
    ("ScheduledStationClassCodeSequence.CodeValue=CLASS1&PatientID=X-9", ["1.2.9.3"]),
    ("00404027.00080100=GEO1&ProcedureStepState=IN PROGRESS", ["1.2.9.2"]),
    ("limit=2", ["1.2.9.3", "1.2.9.2"]),
    ("limit=2&offset=2", ["1.2.9.1"]),
    ("offset=3", []),
]


def test_search_workitems_matches(client, base, worklist):
    for query, expected in MATCHES:
        assert _search(client, base, query) == expected, query


def test_search_returns_default_attributes_without_transaction_uid(client, base, worklist):
    update(client, base, worklist[1], {"00741204": el("LO", "Read")}, "1.5.5")
    response = client.get(f"{base}/workitems?ProcedureStepState=IN PROGRESS",
                          headers={"Accept": DICOM_JSON})
    [ds] = response.get_json()
    assert "00081195" not in ds
    assert ds["00741204"] == el("LO", "Read")
    assert ds["00741000"] == el("CS", "IN PROGRESS")
    assert "00404010" not in ds and "00400400" not in ds  # not a default attribute
    assert list(ds) == sorted(ds)
    [ds] = client.get(f"{base}/workitems?PatientID=X-9&includefield=00400400,"
                      "ScheduledProcedureStepModificationDateTime",
                      headers={"Accept": DICOM_JSON}).get_json()
    assert "00400400" in ds and "00404010" in ds
    [ds] = client.get(f"{base}/workitems?PatientID=X-9&includefield=all",
                      headers={"Accept": DICOM_JSON}).get_json()
    assert "00741210" in ds and "00404010" in ds and "00081195" not in ds


ERRORS = [
    ("Modality=CT", NOT_QUERYABLE.format("Modality")),
    ("PatientBirthDate=20000101", NOT_QUERYABLE.format("PatientBirthDate")),
    ("patientname=x", NOT_QUERYABLE.format("patientname")),
    ("Foo=1", NOT_QUERYABLE.format("Foo")),
    ("ReferencedRequestSequence.PatientID=1",
     NOT_QUERYABLE.format("ReferencedRequestSequence.PatientID")),
    ("ReferencedRequestSequence.IssuerOfAccessionNumberSequence.LocalNamespaceEntityID=1",
     "Dicom element 'ReferencedRequestSequence.IssuerOfAccessionNumberSequence."
     "LocalNamespaceEntityID' failed validation for VR 'SQ': Nested Dicom sequence tags are "
     "currently not supported."),
    ("includefield=ReferencedRequestSequence.AccessionNumber",
     "Sequential dicom tags are currently not supported."),
    ("includefield=Nonsense", "Invalid query: IncludeField has unknown attribute 'Nonsense'."),
    ("includefield=all&includefield=PatientID",
     "Invalid query: cannot specify included fields in addition to 'all'."),
    ("ScheduledProcedureStepStartDateTime=2024-13",
     "Invalid query: specified DateTime value '13' is invalid for attribute "
     "'ScheduledProcedureStepStartDateTime'. DateTime should be valid and formatted as "
     "yyyyMMddHHmmss.FFFFFF where yyyy is mandatory."),
    ("ScheduledProcedureStepStartDateTime=20240101+0100",
     "Invalid query: specified DateTime value '20240101+0100' for attribute "
     "ScheduledProcedureStepStartDateTime contains offset which is not supported."),
    ("ScheduledProcedureStepStartDateTime=20240102-20240101",
     "Invalid query: specified date range '20240102-20240101' is invalid.\nThe first part "
     "DateTime 20240102 should be lesser than or equal to the second part DateTime 20240101."),
    ("limit=0", "The query parameter 'Limit' is invalid. The field Limit must be between 1 "
                "and 200."),
    ("limit=201", "The query parameter 'Limit' is invalid. The field Limit must be between 1 "
                  "and 200."),
    ("offset=-1", "The query parameter 'Offset' is invalid. The field Offset must be between 0 "
                  "and 9223372036854775807."),
    ("PatientID=", "Invalid query: AttributeId 'PatientID' has empty string value that is not "
                   "supported."),
    ("PatientID=1&PatientID=2", "Invalid QIDO-RS query. Duplicate AttributeId 'PatientID'. Each "
                                "attribute is only allowed to be specified once."),
    ("PatientID=1&00100020=2", "Invalid query: attribute '00100020' has been specified more "
                               "than once using different ID formats. Each attribute is only "
                               "allowed to be specified once."),
]


def test_search_workitems_invalid_queries_return_400_text(client, base):
    create(client, base)  # the partition exists
    for query, message in ERRORS:
        response = client.get(f"{base}/workitems?{quote(query, safe='=&,*')}",
                              headers={"Accept": DICOM_JSON})
        assert (response.status_code, response.mimetype) == (400, "text/plain"), query
        assert response.get_data(as_text=True) == message
    response = client.get(f"{base}/workitems", headers={"Accept": "application/dicom"})
    assert (response.status_code, response.get_data()) == (406, b"")


def test_search_after_update_and_cancel_sees_new_values(client, base):
    uid = generate_uid()
    create(client, base, workitem(start="20240101000000"), uid=uid)
    update(client, base, uid, {"00404005": el("DT", "20250505050505"),
                               "00404025": el("SQ", {"00080100": el("SH", "NEW"),
                                                     "00080104": el("LO", "New station")})})
    assert _search(client, base, "ScheduledProcedureStepStartDateTime=2025-") == [uid]
    assert _search(client, base, "ScheduledStationNameCodeSequence.CodeValue=NEW") == [uid]
    assert _search(client, base, "ScheduledStationNameCodeSequence.CodeValue=CT1") == []
    client.post(f"{base}/workitems/{uid}/cancelrequest", data="[{}]",
                headers={"Content-Type": DICOM_JSON})
    assert _search(client, base, "ProcedureStepState=CANCELED") == [uid]


def test_rows_written_before_summaries_are_searched_and_retrieved_alike(app, client, base):
    """A row without the summary column, whose dataset still holds the transaction UID (as
    written before migration 0052), answers exactly as a current row."""
    uid = generate_uid()
    create(client, base, uid=uid)
    change_state(client, base, uid, "IN PROGRESS", "1.5.5")
    queries = ["PatientID=PID-1", "PatientID=PID-1&includefield=all",
               "PatientID=PID-1&includefield=00400400"]
    before = [client.get(f"{base}/workitems?{q}", headers={"Accept": DICOM_JSON}).get_json()
              for q in queries]
    retrieved = client.get(f"{base}/workitems/{uid}", headers={"Accept": DICOM_JSON}).get_json()
    with app.extensions["dicom_db"].connection() as conn:
        with conn.transaction():
            [row] = conn.fetchall("SELECT workitem_key, dataset FROM workitems")
            old = {**json.loads(row["dataset"]), "00081195": el("UI", "1.5.5")}
            conn.execute("UPDATE workitems SET summary = NULL, dataset = ? WHERE workitem_key = ?",
                         (json.dumps(old), row["workitem_key"]))
    after = [client.get(f"{base}/workitems?{q}", headers={"Accept": DICOM_JSON}).get_json()
             for q in queries]
    assert after == before
    assert "00081195" not in after[1][0]
    assert client.get(f"{base}/workitems/{uid}",
                      headers={"Accept": DICOM_JSON}).get_json() == retrieved


def test_values_with_nul_characters_are_stored_and_padding_is_not_indexed(client, base):
    """PostgreSQL text cannot hold NUL: a searchable value with one inside is stored in the
    dataset but not indexed (no query can match it); trailing NUL padding is trimmed, as for
    stored instances (was a 500 on PostgreSQL)."""
    uid, padded = generate_uid(), generate_uid()
    ds = workitem(patient_name="Nul\u0000Name", patient_id="P\u00001", accession="A\u0000C",
                  **{"00400400": el("LT", "x\u0000y")})
    assert create(client, base, ds, uid=uid).status_code == 201
    ds = workitem(patient_name="Pad^Ded\u0000", patient_id="PAD-1\u0000\u0000")
    assert create(client, base, ds, uid=padded).status_code == 201
    response = client.get(f"{base}/workitems/{uid}", headers={"Accept": DICOM_JSON})
    stored = response.get_json()
    assert stored["00100010"]["Value"] == [{"Alphabetic": "Nul\u0000Name"}]
    assert stored["00400400"]["Value"] == ["x\u0000y"]
    assert _search(client, base, "PatientName=pad^ded") == [padded]
    assert _search(client, base, "PatientID=PAD-1") == [padded]
    assert _search(client, base, "PatientName=pad&fuzzymatching=true") == [padded]
    assert _search(client, base, "PatientName=nul*") == []
    assert _search(client, base, "PatientID=P?1") == []
    assert _search(client, base, "ReferencedRequestSequence.AccessionNumber=A*") == [padded]
    assert _search(client, base, "") == [padded, uid]

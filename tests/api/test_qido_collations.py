"""QIDO-RS matching collations (issue #21 item 6; reference.md §5.3, decisions §6): person names
(PatientName, ReferringPhysicianName, PN extended query tags) match case- and
accent-insensitively, every other string case-insensitively but accent-sensitively, wildcards
included, on both databases and in both partition modes; results keep the stored spelling.
Rows stored before migration 0110 match the same way once startup's backfill has run."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from app.api.edge import get_database
from app.services import collations
from app.worker import run_pending_once
from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset

JSON = {"Accept": "application/dicom+json"}
TAGS = [{"path": "PerformingPhysicianName", "level": "Series"},  # PN
        {"path": "InstitutionName", "level": "Study"}]  # LO
#: (PatientID, PatientName, ReferringPhysicianName, StudyDescription, AccessionNumber,
#:  Modality, InstitutionName, PerformingPhysicianName)
STUDIES = [
    ("P1", "Tá^Zoë", "Núñez^Ana", "Crâne", "Ab-1", "CT", "Hôpital Nord", "Gómez^Íñigo"),
    ("P2", "Ta^Zoe", "NUNEZ^ANA", "CRÂNE", "aB-2", "ct", "HÔPITAL nord", "GOMEZ^INIGO"),
    ("p3", "TA^ZOE", "nunez^ana", "Crane", "AB-3", "Mr", "Hopital Nord", "gomez^inigo"),
    ("P4", "Smith^Jo", "Doe^Ref", "Thorax", "XY", "MR", "Clinic", "House^Greg"),
]


def _dataset(pid, name, referring, description, accession, modality, institution, performing):
    return make_dataset(PatientID=pid, PatientName=name, ReferringPhysicianName=referring,
                        StudyDescription=description, AccessionNumber=accession,
                        Modality=modality, InstitutionName=institution,
                        PerformingPhysicianName=performing, SpecificCharacterSet="ISO_IR 192")


def _ids(client, base, resource, query):
    response = client.get(f"{base}/{resource}?{query}&includefield=PatientID", headers=JSON)
    if response.status_code == 204:
        return []
    assert response.status_code == 200, (query, response.get_data(as_text=True))
    return sorted(values(item, "00100020")[0] for item in response.json)


def _q(name, value):
    return f"{name}={quote(value)}"


#: (resource, query, PatientIDs found)
CASES = [
    # PN: case and accents ignored, exact and with wildcards, in both directions
    ("studies", _q("PatientName", "Tá^Zoë"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientName", "ta^zoe"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientName", "TÁ*"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientName", "t?^zo?"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientName", "*ZOË"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientName", "Tá"), []),  # still a whole-value match
    ("studies", _q("ReferringPhysicianName", "nuñez^ANA"), ["P1", "P2", "p3"]),
    ("studies", _q("ReferringPhysicianName", "Nu*"), ["P1", "P2", "p3"]),
    # other strings: case ignored, accents not
    ("studies", _q("StudyDescription", "crâne"), ["P1", "P2"]),
    ("studies", _q("StudyDescription", "CRANE"), ["p3"]),
    ("studies", _q("StudyDescription", "cr?ne"), ["P1", "P2", "p3"]),
    ("studies", _q("StudyDescription", "*Â*"), ["P1", "P2"]),
    ("studies", _q("AccessionNumber", "ab-1"), ["P1"]),
    ("studies", _q("AccessionNumber", "AB*"), ["P1", "P2", "p3"]),
    ("studies", _q("PatientID", "P3"), ["p3"]),
    ("studies", _q("PatientID", "p?"), ["P1", "P2", "P4", "p3"]),
    ("series", _q("Modality", "ct"), ["P1", "P2"]),
    ("series", _q("Modality", "m*"), ["P4", "p3"]),
    ("studies", _q("ModalitiesInStudy", "Ct,mR"), ["P1", "P2", "P4", "p3"]),
    ("studies", _q("ModalitiesInStudy", "cT"), ["P1", "P2"]),
    # extended query tags: PN as the core names, LO as the other strings
    ("series", _q("PerformingPhysicianName", "gómez^íñigo"), ["P1", "P2", "p3"]),
    ("series", _q("PerformingPhysicianName", "GOM*"), ["P1", "P2", "p3"]),
    ("studies", _q("InstitutionName", "hôpital NORD"), ["P1", "P2"]),
    ("studies", _q("InstitutionName", "hopital*"), ["p3"]),
    ("studies", _q("InstitutionName", "h?pital nord"), ["P1", "P2", "p3"]),
    # fuzzy matching as before: case-insensitive, accent-sensitive word prefixes
    ("studies", "fuzzymatching=true&" + _q("PatientName", "zoe"), ["P2", "p3"]),
    ("studies", "fuzzymatching=true&" + _q("PatientName", "ZO"), ["P1", "P2", "p3"]),
]


@pytest.fixture
def client(app, base):
    client = app.test_client()
    assert store(client, base, _dataset(*STUDIES[0]), _dataset(*STUDIES[1])).status_code == 200
    response = client.post("/extendedquerytags", json=TAGS)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert run_pending_once(app) == 1  # the re-index folds the stored values
    assert store(client, base, *(_dataset(*s) for s in STUDIES[2:])).status_code == 200
    return client


def test_qido_collations_person_names_ignore_case_and_accents_other_strings_case(client, base):
    for resource, query, expected in CASES:
        assert _ids(client, base, resource, query) == expected, query


def test_qido_collations_results_show_stored_values(client, base):
    response = client.get(f"{base}/studies?{_q('PatientName', 'ta^zoe')}"
                          "&includefield=StudyDescription", headers=JSON)
    found = {values(item, "00100020")[0]: item for item in response.json}
    assert values(found["P1"], "00100010") == [{"Alphabetic": "Tá^Zoë"}]
    assert values(found["P1"], "00080090") == [{"Alphabetic": "Núñez^Ana"}]
    assert values(found["P2"], "00081030") == ["CRÂNE"]
    assert values(found["p3"], "00080050") == ["AB-3"]
    response = client.get(f"{base}/series?Modality=ct&includefield=PerformingPhysicianName",
                          headers=JSON)
    assert sorted(values(item, "00080060")[0] for item in response.json) == ["CT", "ct"]


def test_qido_collations_delete_recompute_keeps_folded_columns(client, base):
    study = _dataset(*STUDIES[3])
    older = make_dataset(study.StudyInstanceUID, study.SeriesInstanceUID, PatientID="P4",
                         PatientName="Élan^Vital", SpecificCharacterSet="ISO_IR 192")
    assert store(client, base, older).status_code == 200
    assert _ids(client, base, "studies", _q("PatientName", "elan^vital")) == ["P4"]
    uids = (older.StudyInstanceUID, older.SeriesInstanceUID, older.SOPInstanceUID)
    assert client.delete("{}/studies/{}/series/{}/instances/{}".format(base, *uids)
                         ).status_code == 204
    # the study's name is recomputed from what remains (Smith^Jo), folded too
    assert _ids(client, base, "studies", _q("PatientName", "elan^vital")) == []
    assert _ids(client, base, "studies", _q("PatientName", "SMITH^JO")) == ["P4"]


def test_qido_collations_rows_stored_before_migration_match_after_backfill(
        client, base, make_app, partition_mode, monkeypatch):
    app = client.application
    with get_database(app).connection() as conn, conn.transaction():
        for table, columns in (
                ("studies", ("patient_id", "patient_name", "referring_physician_name",
                             "study_description", "accession_number", "study_id")),
                ("series", ("modality", "manufacturer_model_name")),
                ("extended_query_tag_string", ("tag_value",)),
                ("extended_query_tag_person_name", ("tag_value",))):
            sets = ", ".join(f"{c}_folded = NULL" for c in columns)
            conn.execute(f"UPDATE {table} SET {sets}")
        conn.execute("INSERT INTO pending_backfills (name) VALUES (?)", ["collations"])
    # what migration 0110 leaves: nothing matches the folded columns yet
    assert _ids(client, base, "studies", _q("PatientName", "ta^zoe")) == []
    monkeypatch.setattr(collations, "BATCH_SIZE", 2)  # several batches per table
    restarted = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned")
    again = restarted.test_client()
    for resource, query, expected in CASES:
        assert _ids(again, base, resource, query) == expected, query
    with get_database(restarted).connection() as conn:
        assert conn.fetchall("SELECT name FROM pending_backfills") == []
        assert collations.backfill(conn) == 0  # done once

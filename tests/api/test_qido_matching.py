"""QIDO-RS matching rules, identical on SQLite and PostgreSQL (issues #5, #21; decisions §6).

Each test runs once per database (plain routes); the partition matrix is covered by
test_qido.py.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset, uid

PATIENTS = [  # (PatientID, PatientName)
    ("ABC-1", "Doe^John"),
    ("abc-2", "DOE^JANE"),
    ("X%1", "O'Brien^Mary"),
    ("X_2", "Van Der Berg^Jan"),
    ("XZ3", "Smith^Johnny^Q"),
    ("XY3", "Smythe^Anna"),
    ("1.2*", "Nobody"),
]


@pytest.fixture
def client(make_app):
    client = make_app().test_client()
    datasets = [make_dataset(PatientID=pid, PatientName=name,
                             StudyDate=f"2024010{index + 1}", StudyTime=f"1{index}3000",
                             AccessionNumber=f"ACC{index}", SeriesNumber=index + 1,
                             Modality="CT" if index % 2 else "MR")
                for index, (pid, name) in enumerate(PATIENTS)]
    assert store(client, "", *datasets).status_code == 200
    return client


def _patient_ids(client, query: str) -> list[str]:
    response = client.get(f"/studies?{query}&includefield=PatientID")
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.get_data(as_text=True)
    return sorted(values(item, "00100020")[0] for item in response.json)


CASES = [
    # exact: every string ignores case (PN also accents: test_qido_collations.py)
    ("PatientName=doe^john", ["ABC-1"]),
    ("PatientName=DOE%5EJANE", ["abc-2"]),
    ("PatientName=Doe", []),
    ("PatientID=abc-1", ["ABC-1"]),
    ("PatientID=ABC-1", ["ABC-1"]),
    # wildcards on string VRs; LIKE metacharacters in values are literal
    ("PatientID=ABC*", ["ABC-1", "abc-2"]),
    ("PatientID=*bc*", ["ABC-1", "abc-2"]),
    ("PatientID=X?3", ["XY3", "XZ3"]),
    ("PatientID=X%251", ["X%1"]),
    ("PatientID=X%25*", ["X%1"]),
    ("PatientID=X_*", ["X_2"]),
    ("PatientID=X%5C*", []),
    ("PatientID=X%5C3", []),
    ("PatientID=%5B*", []),
    ("PatientName=doe*", ["ABC-1", "abc-2"]),
    ("PatientName=*BRIEN*", ["X%1"]),
    ("PatientName=o'b*", ["X%1"]),
    ("PatientName=sm?th*", ["XY3", "XZ3"]),
    ("PatientName=sm?th^*", ["XZ3"]),
    ("PatientName=%25", []),
    ("PatientName=_*", []),
    # fuzzy: every word is a prefix of a word of the name, any order, any case
    ("fuzzymatching=true&PatientName=jo", ["ABC-1", "XZ3"]),
    ("fuzzymatching=true&PatientName=ja%20doe", ["abc-2"]),
    ("fuzzymatching=true&PatientName=der%5Eber", ["X_2"]),
    ("fuzzymatching=true&PatientName=smy", ["XY3"]),
    ("fuzzymatching=true&PatientName=ohn", []),
    ("fuzzymatching=false&PatientName=jo", []),
    # dates and times: exact and inclusive ranges
    ("StudyDate=20240103", ["X%1"]),
    ("StudyDate=20240106-", ["1.2*", "XY3"]),
    ("StudyDate=-20240102", ["ABC-1", "abc-2"]),
    ("StudyDate=20240102-20240103", ["X%1", "abc-2"]),
    ("StudyTime=1130", ["abc-2"]),
    ("StudyTime=12-13", ["X%1", "X_2"]),
    # numbers, lists, ModalitiesInStudy
    ("AccessionNumber=ACC0", ["ABC-1"]),
    ("ModalitiesInStudy=CT", ["XY3", "X_2", "abc-2"]),
    ("ModalitiesInStudy=XX,MR%5CPT", ["1.2*", "ABC-1", "X%1", "XZ3"]),
    ("PatientID=1.2*", ["1.2*"]),
]


def test_search_for_studies_matching_rules_give_identical_results(client):
    for query, expected in CASES:
        assert _patient_ids(client, query) == sorted(expected), query


def test_search_for_series_series_number_and_uid_lists(client):
    response = client.get("/series?SeriesNumber=003")
    [series] = response.json
    assert values(series, "00100010") == [{"Alphabetic": "O'Brien^Mary"}]
    studies = [values(s, "0020000D")[0] for s in client.get("/studies").json]
    query = quote(f"{studies[0]},{studies[2]}\\{uid()}")
    response = client.get(f"/studies?StudyInstanceUID={query}")
    assert sorted(values(s, "0020000D")[0] for s in response.json) == sorted(
        [studies[0], studies[2]])
    response = client.get(f"/series?StudyInstanceUID={studies[1]}&SeriesNumber=6")
    [series] = response.json
    assert values(series, "00200011") == [6]


def test_search_for_instances_instance_level_keys(client):
    [first] = client.get("/instances?limit=1&includefield=SOPClassUID").json
    sop_class = values(first, "00080016")[0]
    response = client.get(f"/instances?SOPClassUID={sop_class}&InstanceNumber=1&limit=200")
    assert len(response.json) == len(PATIENTS)
    assert client.get("/instances?InstanceNumber=2").status_code == 204


def test_search_fuzzy_words_follow_latest_name(make_app):
    client = make_app().test_client()
    study = uid()
    assert store(client, "", make_dataset(study, PatientName="Old^Name")).status_code == 200
    assert store(client, "", make_dataset(study, PatientName="New^Person",
                                          ReferringPhysicianName=None)).status_code == 200
    assert client.get("/studies?fuzzymatching=true&PatientName=old").status_code == 204
    assert len(client.get("/studies?fuzzymatching=true&PatientName=pers").json) == 1
    # an instance without a referring physician keeps the study's earlier one (latest wins)
    response = client.get("/studies?fuzzymatching=true&ReferringPhysicianName=doc")
    assert len(response.json) == 1


def test_search_fuzzy_after_delete_recompute_matches_remaining_name(make_app):
    client = make_app().test_client()
    study, series = uid(), uid()
    old = make_dataset(study, series, PatientName="Old^Name")
    new = make_dataset(study, series, PatientName="New^Person")
    assert store(client, "", old, new).status_code == 200
    sop = str(new.SOPInstanceUID)
    assert client.delete(f"/studies/{study}/series/{series}/instances/{sop}").status_code == 204
    assert client.get("/studies?fuzzymatching=true&PatientName=pers").status_code == 204
    assert len(client.get("/studies?fuzzymatching=true&PatientName=old").json) == 1


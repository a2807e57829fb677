"""End to end: add tags -> re-index -> QIDO finds the instances, per partition (issue #7)."""
from __future__ import annotations


from app.worker import run_pending_once
from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset, uid

JSON = {"Accept": "application/dicom+json"}
TAGS = [{"path": "PatientAge", "level": "Study"},
        {"path": "AcquisitionDate", "level": "Series"},
        {"path": "AcquisitionNumber", "level": "Instance"},
        {"path": "DiffusionBValue", "level": "Instance"},
        {"path": "PerformingPhysicianName", "level": "Series"},
        {"path": "AcquisitionDateTime", "level": "Instance"}]


def _dataset(age, date, number, physician, study=None):
    return make_dataset(study_uid=study, PatientAge=age, AcquisitionDate=date,
                        AcquisitionNumber=number, DiffusionBValue=float(number) * 10,
                        PerformingPhysicianName=physician,
                        AcquisitionDateTime=f"{date}101500")


def _reindex(app, client):
    response = client.post("/extendedquerytags", json=TAGS)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert run_pending_once(app) == 1


def _uids(response, tag):
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.get_data(as_text=True)
    return {values(item, tag)[0] for item in response.json}


def test_qido_extended_query_tags_after_reindex_match_per_vr(app, client, base):
    first = _dataset("045Y", "20240101", 3, "House^Gregory")
    second = _dataset("030Y", "20230615", 7, "Wilson^James")
    assert store(client, base, first, second).status_code == 200
    before = client.get(f"{base}/studies?PatientAge=045Y", headers=JSON)
    assert before.status_code == 400  # no such tag yet
    _reindex(app, client)

    def studies(query):
        return _uids(client.get(f"{base}/studies?{query}", headers=JSON), "0020000D")

    def instances(query):
        return _uids(client.get(f"{base}/instances?{query}", headers=JSON), "00080018")

    assert studies("PatientAge=045Y") == {first.StudyInstanceUID}
    assert studies("PatientAge=04*") == {first.StudyInstanceUID}
    assert _uids(client.get(f"{base}/series?AcquisitionDate=20230101-20231231", headers=JSON),
                 "0020000E") == {second.SeriesInstanceUID}
    assert instances("AcquisitionNumber=0003") == {first.SOPInstanceUID}
    assert instances("DiffusionBValue=70") == {second.SOPInstanceUID}
    assert instances("PatientAge=030Y") == {second.SOPInstanceUID}  # a level above
    assert instances("AcquisitionDateTime=2024-") == {first.SOPInstanceUID}
    assert _uids(client.get(f"{base}/series?PerformingPhysicianName=greg&fuzzymatching=true",
                            headers=JSON), "0020000E") == {first.SeriesInstanceUID}
    # a new instance is searchable at once
    third = _dataset("045Y", "20200101", 9, "Cuddy^Lisa")
    assert store(client, base, third).status_code == 200
    assert studies("PatientAge=045Y") == {first.StudyInstanceUID, third.StudyInstanceUID}


def test_qido_extended_query_tags_values_stay_in_their_partition(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    study = uid()
    assert store(client, "/partitions/SiteA", _dataset("045Y", "20240101", 3, "A^B",
                                                         study)).status_code == 200
    assert store(client, "/partitions/SiteB", _dataset("030Y", "20240101", 3, "A^B",
                                                         study)).status_code == 200
    _reindex(app, client)
    for partition, age, other in (("SiteA", "045Y", "030Y"), ("SiteB", "030Y", "045Y")):
        url = f"/partitions/{partition}/studies"
        assert _uids(client.get(f"{url}?PatientAge={age}", headers=JSON), "0020000D") == {study}
        assert client.get(f"{url}?PatientAge={other}", headers=JSON).status_code == 204


def test_qido_extended_query_tag_with_errors_is_disabled_until_enabled(make_app):
    app = make_app()
    client = app.test_client()
    assert store(client, "", make_dataset(PatientAge="5Y"), make_dataset(PatientAge="045Y"),
                 prefix="/v1").status_code == 200
    assert client.post("/extendedquerytags",
                       json=[{"path": "PatientAge", "level": "Study"}]).status_code == 202
    run_pending_once(app)
    response = client.get("/studies?PatientAge=045Y", headers=JSON)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "Query is disabled on specified attribute 'PatientAge'.")
    client.patch("/extendedquerytags/PatientAge", json={"queryStatus": "Enabled"})
    response = client.get("/studies?PatientAge=045Y", headers=JSON)
    assert response.status_code == 200
    assert response.headers["erroneous-dicom-attributes"] == "PatientAge"

"""QIDO-RS search through HTTP (issue #5, reference.md §5, decisions §6)."""
from __future__ import annotations

import pytest

from tests.api.helpers import DICOM_JSON, store, values
from tests.dicom_factory import make_dataset, uid

PREFIXES = ["", "/v1", "/v1.0-prerelease", "/v2"]
STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"


def _uids(response, tag=STUDY_UID):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == DICOM_JSON
    return [values(item, tag)[0] for item in response.json]


@pytest.fixture
def archive(client, base):
    """Two studies: A (CT series with 2 instances + MR series) and B (one US instance)."""
    a, b = uid(), uid()
    a_ct, a_mr, b_us = uid(), uid(), uid()
    datasets = [
        make_dataset(a, a_ct, PatientName="Doe^John", PatientID="P1", StudyDate="20240105",
                     Modality="CT", InstanceNumber=1),
        make_dataset(a, a_ct, PatientName="Doe^John", PatientID="P1", StudyDate="20240105",
                     Modality="CT", InstanceNumber=2),
        make_dataset(a, a_mr, PatientName="Doe^John", PatientID="P1", StudyDate="20240105",
                     Modality="MR"),
        make_dataset(b, b_us, PatientName="Smith^Anna", PatientID="P2", StudyDate="20230301",
                     Modality="US"),
    ]
    response = store(client, base, *datasets)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"a": a, "b": b, "a_ct": a_ct, "a_mr": a_mr, "b_us": b_us,
            "sops": [str(d.SOPInstanceUID) for d in datasets]}


def test_search_for_all_six_resources_returns_matching_rows(client, base, archive):
    a, b = archive["a"], archive["b"]
    assert _uids(client.get(f"{base}/studies")) == [b, a]  # newest first
    assert _uids(client.get(f"{base}/series"), SERIES_UID) == [archive["b_us"], archive["a_mr"],
                                                               archive["a_ct"]]
    assert _uids(client.get(f"{base}/instances"), SOP_UID) == archive["sops"][::-1]
    assert _uids(client.get(f"{base}/studies/{a}/series"), SERIES_UID) == [archive["a_mr"],
                                                                          archive["a_ct"]]
    assert len(_uids(client.get(f"{base}/studies/{a}/instances"), SOP_UID)) == 3
    response = client.get(f"{base}/studies/{a}/series/{archive['a_ct']}/instances")
    assert _uids(response, SOP_UID) == archive["sops"][1::-1]
    assert _uids(response) == [a, a]  # path UIDs are returned
    assert _uids(response, SERIES_UID) == [archive["a_ct"]] * 2
    assert _uids(client.get(f"{base}/studies?PatientID=P2")) == [b]
    assert _uids(client.get(f"{base}/series?Modality=MR"), SERIES_UID) == [archive["a_mr"]]
    response = client.get(f"{base}/instances?SOPInstanceUID={archive['sops'][0]}")
    assert _uids(response, SOP_UID) == [archive["sops"][0]]


def test_search_for_studies_nothing_matches_returns_204(client, base, archive):
    response = client.get(f"{base}/studies?PatientID=nobody")
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"{base}/studies?offset=5").status_code == 204


def test_search_for_studies_paging_and_computed_attributes(client, base, archive):
    response = client.get(f"{base}/studies?limit=1&offset=1&includefield=ModalitiesInStudy,"
                          "NumberOfStudyRelatedInstances&includefield=NumberOfStudyRelatedSeries")
    [study] = response.json
    assert values(study, STUDY_UID) == [archive["a"]]
    assert values(study, "00080061") == ["CT", "MR"]
    assert values(study, "00201208") == [3]
    assert values(study, "00201206") == [2]
    response = client.get(f"{base}/studies/{archive['a']}/series?"
                          "includefield=NumberOfSeriesRelatedInstances")
    assert [values(s, "00201209") for s in response.json] == [[1], [2]]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_search_for_studies_default_attributes_per_version(make_app, prefix):
    client = make_app().test_client()
    assert store(client, "", make_dataset(PatientSex="F", StudyDescription="Desc")
                 ).status_code == 200
    [study] = client.get(f"{prefix}/studies").json
    if prefix.startswith("/v1"):
        assert values(study, "00080005") == ["ISO_IR 100"]  # SpecificCharacterSet
        assert values(study, "00100040") == ["F"]
        assert values(study, "00200010") == ["S1"]  # StudyID
        assert "00081030" not in study
    else:
        assert values(study, "00081030") == ["Desc"]
        assert "00100040" not in study and "00080005" not in study
    assert values(study, "00100010") == [{"Alphabetic": "Doe^John"}]
    [instance] = client.get(f"{prefix}/instances").json
    if prefix.startswith("/v1"):
        assert values(instance, "00280010") == [4]  # Rows, from the stored metadata
        assert values(instance, "00200013") == [1]  # InstanceNumber: an IS number
    else:
        assert "00280010" not in instance and "00200013" not in instance


def test_search_partitioned_results_and_counts_stay_in_partition(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    study, series = uid(), uid()
    shared = make_dataset(study, series, PatientID="SAME")
    assert store(client, "/partitions/A", shared).status_code == 200
    assert store(client, "/partitions/B", shared, make_dataset(study, series, PatientID="SAME"),
                 make_dataset(PatientID="SAME")).status_code == 200
    response = client.get("/partitions/A/studies?PatientID=SAME"
                          "&includefield=NumberOfStudyRelatedInstances")
    [only] = response.json
    assert values(only, "00201208") == [1]
    assert len(client.get("/partitions/B/studies?PatientID=SAME").json) == 2
    assert len(client.get("/partitions/A/instances").json) == 1
    assert client.get("/partitions/Microsoft.Default/studies").status_code == 204
    response = client.get("/partitions/A/studies?fuzzymatching=true&PatientName=jo")
    assert len(response.json) == 1


def test_search_for_studies_accept_and_path_validation(client, base):
    assert store(client, base, make_dataset()).status_code == 200
    response = client.get(f"{base}/studies", headers={"Accept": "application/dicom"})
    assert response.status_code == 406
    response = client.get(f"{base}/studies/1.2.a/series")
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(
        "Dicom element 'StudyInstanceUid' failed validation for VR 'UI'")
    response = client.get(f"{base}/studies/1.2/series/x/instances")
    assert response.get_data(as_text=True).startswith(
        "Dicom element 'SeriesInstanceUid' failed validation")


def test_search_for_studies_universal_match_returns_studies_without_the_value(app, base):
    """PS3.4 C.2.2.2.3: ``*`` alone matches every study, also one without AccessionNumber."""
    from tests.api.helpers import store
    from tests.dicom_factory import make_dataset

    client = app.test_client()
    with_value = make_dataset(AccessionNumber="A1")
    without = make_dataset(AccessionNumber=None)
    assert store(client, base, with_value, without).status_code == 200
    response = client.get(f"{base}/studies?AccessionNumber=*",
                          headers={"Accept": "application/dicom+json"})
    assert response.status_code == 200
    found = {s["0020000D"]["Value"][0] for s in response.json}
    assert found == {with_value.StudyInstanceUID, without.StudyInstanceUID}
    narrowed = client.get(f"{base}/studies?AccessionNumber=A*",
                          headers={"Accept": "application/dicom+json"})
    assert [s["0020000D"]["Value"][0] for s in narrowed.json] == [with_value.StudyInstanceUID]


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_search_finds_the_partition_in_any_case_and_a_missing_one_comes_first(
        make_app, partition_mode):
    """A search finds its partition by name in its own statement (issue #23): any spelling
    works, each partition sees only its own rows, an empty page is 204 in a partition that
    exists, and a partition that does not exist is the answer whatever else is wrong."""
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    a, b = make_dataset(PatientID="A"), make_dataset(PatientID="B")
    assert store(client, "/partitions/SiteA", a).status_code == 200
    assert store(client, "/partitions/SiteB", b).status_code == 200
    for name in ("SiteA", "sitea", "SITEA"):
        for path in ("studies", "series", "instances", f"studies/{a.StudyInstanceUID}/series",
                     f"studies/{a.StudyInstanceUID}/instances",
                     f"studies/{a.StudyInstanceUID}/series/{a.SeriesInstanceUID}/instances"):
            response = client.get(f"/partitions/{name}/{path}?includefield=all")
            assert _uids(response) == [a.StudyInstanceUID], (name, path)
        response = client.get(f"/partitions/{name}/studies?includefield=00201208")
        assert values(response.json[0], "00201208") == [1]  # counted in its partition
        assert client.get(f"/partitions/{name}/studies?PatientID=B").status_code == 204
        assert client.get(f"/partitions/{name}/studies/{b.StudyInstanceUID}/series"
                          ).status_code == 204
    for path, accept in (("studies", None), ("studies?PatientID=B", None),
                         ("studies?limit=0", None), ("studies?Unknown=1", None),
                         ("studies", "image/png"), ("studies/not..a..uid/series", None)):
        response = client.get(f"/partitions/Nope/{path}",
                              headers={"Accept": accept} if accept else {})
        assert response.status_code == 400, (path, accept)
        assert response.get_data() == b"Specified PartitionName does not exist.", (path, accept)

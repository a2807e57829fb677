"""Partition isolation across every partition-scoped route (decisions §2): the same UIDs (and
others) stored in two partitions; reading, searching, the change feed and deleting in one
partition never return, count or remove anything of the other."""
from __future__ import annotations

from tests.api.helpers import store
from tests.dicom_factory import make_dataset, uid

A, B = "/partitions/PartA", "/partitions/PartB"


def _seed(client):
    study, series, shared_sop, b_only_sop = uid(), uid(), uid(), uid()
    a = make_dataset(study, series, shared_sop, PatientName="Alpha^A", Modality="CT")
    b_shared = make_dataset(study, series, shared_sop, PatientName="Beta^B", Modality="CT")
    b_series = uid()
    b_more = make_dataset(study, b_series, b_only_sop, PatientName="Beta^B", Modality="MR")
    assert store(client, A, a).status_code == 200
    assert store(client, B, b_shared, b_more).status_code == 200
    return study, series, shared_sop, b_series, b_only_sop


def test_partition_routes_same_uids_in_two_partitions_see_only_their_own(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    study, series, sop, b_series, b_sop = _seed(client)
    studies = client.get(f"{A}/studies?includefield=all").get_json()
    assert len(studies) == 1
    assert studies[0]["00100010"]["Value"][0]["Alphabetic"] == "Alpha^A"
    assert studies[0]["00201208"]["Value"] == [1]  # NumberOfStudyRelatedInstances
    assert studies[0]["00201206"]["Value"] == [1]  # NumberOfStudyRelatedSeries
    assert studies[0]["00080061"]["Value"] == ["CT"]  # ModalitiesInStudy
    assert client.get(f"{A}/studies?PatientName=Beta*").status_code == 204
    assert client.get(f"{A}/studies?ModalitiesInStudy=MR").status_code == 204
    assert client.get(f"{A}/studies?PatientName=beta&fuzzymatching=true").status_code == 204
    assert len(client.get(f"{A}/studies/{study}/series").get_json()) == 1
    assert len(client.get(f"{A}/series?StudyInstanceUID={study}").get_json()) == 1
    assert client.get(f"{A}/studies/{study}/series/{b_series}/instances").status_code == 204
    assert len(client.get(f"{A}/instances?StudyInstanceUID={study}").get_json()) == 1
    assert client.get(f"{A}/instances?SOPInstanceUID={b_sop}").status_code == 204
    meta = client.get(f"{A}/studies/{study}/metadata").get_json()
    assert [m["00100010"]["Value"][0]["Alphabetic"] for m in meta] == ["Alpha^A"]
    assert client.get(f"{A}/studies/{study}/series/{b_series}/metadata").status_code == 404
    assert client.get(f"{A}/studies/{study}/series/{b_series}/instances/{b_sop}"
                      ).status_code == 404
    feed = client.get(f"{A}/changefeed?includeMetadata=true").get_json()
    assert [e["partitionName"] for e in feed] == ["PartA"]
    assert client.get(f"/v1{A}/changefeed").get_json()[0]["partitionName"] == "PartA"
    assert client.get(f"{A}/changefeed/latest").get_json()["partitionName"] == "PartA"
    assert client.get(f"/v1{A}/changefeed/latest").get_json()["partitionName"] == "PartA"
    # deletes in A: B's instance of the same UIDs and B's other series stay
    assert client.delete(f"{A}/studies/{study}/series/{b_series}").status_code == 404
    assert client.delete(f"{A}/studies/{study}/series/{b_series}/instances/{b_sop}"
                         ).status_code == 404
    assert client.delete(f"{A}/studies/{study}").status_code == 204
    assert client.get(f"{A}/studies/{study}/metadata").status_code == 404
    remaining = client.get(f"{B}/studies/{study}/metadata").get_json()
    assert sorted(m["00080018"]["Value"][0] for m in remaining) == sorted([sop, b_sop])
    b_studies = client.get(f"{B}/studies?includefield=all").get_json()
    assert b_studies[0]["00201208"]["Value"] == [2]
    assert b_studies[0]["00100010"]["Value"][0]["Alphabetic"] == "Beta^B"
    b_feed = client.get(f"{B}/changefeed").get_json()
    assert [e["state"] for e in b_feed] == ["Current", "Current"]
    assert client.get(f"{B}/studies/{study}/series/{series}/instances/{sop}").status_code == 200


def test_delete_identical_file_in_two_partitions_keeps_the_other_partitions_copy(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    ds = make_dataset()
    assert store(client, A, ds).status_code == 200
    assert store(client, B, ds).status_code == 200  # same bytes: one shared file
    study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    assert client.delete(f"{A}/studies/{study}/series/{series}/instances/{sop}"
                         ).status_code == 204
    response = client.get(f"{B}/studies/{study}/series/{series}/instances/{sop}",
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.data[128:132] == b"DICM"
    assert client.get(f"{A}/studies/{study}").status_code == 404

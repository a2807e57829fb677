"""Partition administration beyond the reference (issue #20): one partition with its
statistics, and the partition list with them. Statistics are kept by the database as rows
change (sql/schema/*/0080_partition_statistics.sql), so every test here checks them against
what was stored and deleted through the API."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest

from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes, uid

NOT_FOUND = "Specified PartitionName does not exist."
INVALID = "The specified PartitionName is invalid. "


@pytest.fixture
def client(make_app):
    return make_app(ENABLE_DATA_PARTITIONS=True).test_client()


def _statistics(client, name: str) -> dict:
    response = client.get(f"/partitions/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["statistics"]


def _store_all(client, name: str, datasets) -> int:
    """Store the datasets into the partition; return their bytes."""
    parts = [to_bytes(ds) for ds in datasets]
    response = store(client, f"/partitions/{name}", *parts)
    assert response.status_code == 200, response.get_data(as_text=True)
    return sum(len(p) for p in parts)


def test_get_partition_answers_the_list_item_with_statistics(client):
    study = uid()
    series = [uid(), uid()]
    datasets = [make_dataset(study, series[0]), make_dataset(study, series[0]),
                make_dataset(study, series[1]), make_dataset()]
    size = _store_all(client, "SiteA", datasets)
    response = client.get("/partitions/sitea")  # names compare case-insensitively
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.json
    [listed] = [p for p in client.get("/partitions").json if p["partitionName"] == "SiteA"]
    assert {k: v for k, v in body.items() if k not in ("statistics", "quota")} == listed
    assert body["quota"] == {"maxInstances": None, "maxBytes": None}
    statistics = body["statistics"]
    assert statistics.pop("lastStoredTime") is not None
    assert statistics == {"studies": 2, "series": 3, "instances": 4, "bytesStored": size,
                          "bytesOnDisk": size}


def test_statistics_of_the_default_partition_start_at_zero(client):
    assert _statistics(client, "Microsoft.Default") == {
        "studies": 0, "series": 0, "instances": 0, "bytesStored": 0, "bytesOnDisk": 0,
        "lastStoredTime": None}


def test_statistics_follow_deletes_at_every_level(client):
    study, series = uid(), uid()
    first, second, other = make_dataset(study, series), make_dataset(study, series), make_dataset()
    _store_all(client, "SiteA", [first, second, other])
    before = _statistics(client, "SiteA")
    base = f"/partitions/SiteA/studies/{study}/series/{series}/instances"
    assert client.delete(f"{base}/{first.SOPInstanceUID}").status_code == 204
    after = _statistics(client, "SiteA")
    size = len(to_bytes(first))
    assert after["instances"] == 2 and after["studies"] == 2 and after["series"] == 2
    assert after["bytesStored"] == before["bytesStored"] - size
    assert after["bytesOnDisk"] == before["bytesOnDisk"] - size
    assert after["lastStoredTime"] == before["lastStoredTime"]  # the last store, not lowered
    assert client.delete(f"/partitions/SiteA/studies/{study}").status_code == 204
    assert client.delete(f"/partitions/SiteA/studies/{other.StudyInstanceUID}").status_code == 204
    assert {k: v for k, v in _statistics(client, "SiteA").items() if k != "lastStoredTime"} == {
        "studies": 0, "series": 0, "instances": 0, "bytesStored": 0, "bytesOnDisk": 0}


def test_the_same_file_in_two_partitions_counts_in_both(client):
    ds = make_dataset()
    size = _store_all(client, "SiteA", [ds])
    _store_all(client, "SiteB", [ds])
    for name in ("SiteA", "SiteB"):
        statistics = _statistics(client, name)
        assert (statistics["bytesStored"], statistics["bytesOnDisk"]) == (size, size)
    # A duplicate and a failed part change nothing.
    assert store(client, "/partitions/SiteA", ds).status_code == 409
    assert _statistics(client, "SiteA")["instances"] == 1


def test_a_study_stored_again_after_its_delete_counts_once(client):
    ds = make_dataset()
    size = _store_all(client, "SiteA", [ds])
    assert client.delete(f"/partitions/SiteA/studies/{ds.StudyInstanceUID}").status_code == 204
    _store_all(client, "SiteA", [ds])
    statistics = _statistics(client, "SiteA")
    assert (statistics["studies"], statistics["series"], statistics["instances"],
            statistics["bytesOnDisk"]) == (1, 1, 1, size)


def test_statistics_stay_exact_under_concurrent_stores_into_one_partition(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    study = uid()
    batches = [[make_dataset(study, uid()) for _ in range(3)] + [make_dataset()]
               for _ in range(6)]
    sizes, errors = [], []

    def worker(datasets):
        try:
            sizes.append(_store_all(app.test_client(), "SiteA", datasets))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    statistics = _statistics(app.test_client(), "SiteA")
    assert (statistics["studies"], statistics["series"], statistics["instances"]) == (7, 24, 24)
    assert statistics["bytesStored"] == statistics["bytesOnDisk"] == sum(sizes)


def test_list_with_statistics(client):
    size = _store_all(client, "SiteA", [make_dataset()])
    for value in ("true", "True", " TRUE "):
        body = client.get(f"/partitions?includeStatistics={value}").json
        assert [p["partitionName"] for p in body] == ["Microsoft.Default", "SiteA"]
        assert body[1]["statistics"]["bytesStored"] == size
        assert body[0]["statistics"]["instances"] == 0
        datetime.fromisoformat(body[1]["statistics"]["lastStoredTime"])
    for value in ("false", None):
        query = "" if value is None else f"?includeStatistics={value}"
        assert all("statistics" not in p for p in client.get(f"/partitions{query}").json)


@pytest.mark.parametrize("value, text", [
    ("yes", "The value 'yes' is not valid for includeStatistics."),
    ("", "The value '' is invalid."),
])
def test_list_with_an_invalid_include_statistics_is_400(client, value, text):
    response = client.get(f"/partitions?includeStatistics={value}")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        f"The query parameter 'includeStatistics' is invalid. {text}")


def test_get_partition_errors(client, make_app):
    response = client.get("/partitions/Nowhere")
    assert (response.status_code, response.get_data(as_text=True)) == (400, NOT_FOUND)
    response = client.get("/partitions/a@b")
    assert (response.status_code, response.get_data(as_text=True)) == (400, INVALID)
    response = client.get(f"/partitions/{'a' * 65}")
    assert (response.status_code, response.get_data(as_text=True)) == (400, INVALID)
    off = make_app().test_client()
    response = off.get("/partitions/Microsoft.Default")
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, "Data partitions feature is disabled.")

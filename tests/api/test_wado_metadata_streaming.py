"""WADO-RS metadata of a study or series larger than one batch: streamed, read as it is sent, one
snapshot, its connection given back however the body ends (reference.md §4.4, decisions:
Retrieve)."""
from __future__ import annotations

import json

import pytest

from app.services import retrieve_metadata
from tests.api.helpers import store
from tests.api.test_metrics import scrape, value
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import make_dataset, uid

IN_USE = "dicomweb_database_connections_in_use"
ORIGINAL = {"msdicom-request-original": "true"}


@pytest.fixture
def batch_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieve_metadata, "METADATA_BATCH_SIZE", 2)


def _study(client, base: str, series_sizes: tuple[int, ...]):
    """A study of ``series_sizes`` instances per series (each with PixelData: a BulkDataURI)."""
    study = uid()
    datasets = []
    for size in series_sizes:
        series = uid()
        datasets += [make_dataset(study_uid=study, series_uid=series, InstanceNumber=n + 1)
                     for n in range(size)]
    assert store(client, base, *datasets).status_code == 200
    return study, datasets


def _sops(body: bytes) -> list[str]:
    return [item["00080018"]["Value"][0] for item in json.loads(body)]


def test_retrieve_metadata_larger_than_a_batch_streams_the_same_body_and_etag(
        client, base, monkeypatch):
    study, datasets = _study(client, base, (3, 2))
    series = datasets[0].SeriesInstanceUID
    urls = [f"{base}/studies/{study}/metadata", f"{base}/studies/{study}/series/{series}/metadata",
            instance_url(base, datasets[0]) + "/metadata"]
    cases = [(url, headers) for url in urls for headers in ({}, ORIGINAL)]
    whole = {}
    for url, headers in cases:
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and "Content-Length" in response.headers
        whole[url, bool(headers)] = response.get_data(), response.headers["ETag"]
    assert "/bulkdata/7FE00010" in whole[urls[0], False][0].decode()

    monkeypatch.setattr(retrieve_metadata, "METADATA_BATCH_SIZE", 2)
    for url, headers in cases:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/dicom+json"
        assert (response.get_data(), response.headers["ETag"]) == whole[url, bool(headers)]
        streamed = url != urls[2]  # 5 and 3 instances; the instance form never is
        assert ("Content-Length" not in response.headers) == streamed, url
    assert _sops(whole[urls[0], False][0]) == [ds.SOPInstanceUID for ds in datasets]

    etag = whole[urls[0], False][1]
    assert etag == f"{etag.split('-')[0]}-5"
    for sent in (etag, f'"{etag}"'):
        response = client.get(urls[0], headers={"If-None-Match": sent})
        assert response.status_code == 304
        assert response.get_data() == b"" and "ETag" not in response.headers
    monkeypatch.setattr(retrieve_metadata, "METADATA_BATCH_SIZE", 5)  # exactly one batch
    response = client.get(urls[0])
    assert "Content-Length" in response.headers
    assert (response.get_data(), response.headers["ETag"]) == whole[urls[0], False]


def test_retrieve_metadata_streamed_body_is_one_snapshot(client, base, batch_of_two):
    study, datasets = _study(client, base, (3, 3))
    before = client.get(f"{base}/studies/{study}/metadata")
    assert before.headers["ETag"].endswith("-6")

    response = client.get(f"{base}/studies/{study}/metadata", buffered=False)
    assert response.status_code == 200 and response.headers["ETag"] == before.headers["ETag"]
    pieces = iter(response.response)
    first = next(pieces)  # "[" and the first batch: the rest is not read yet
    assert len(_sops(first + b"]")) == 2
    # Committed while the body is half read: neither may show in it.
    assert client.delete(instance_url(base, datasets[-1])).status_code == 204
    added = make_dataset(study_uid=study, series_uid=datasets[0].SeriesInstanceUID)
    assert store(client, base, added).status_code == 200
    body = first + b"".join(pieces)
    response.close()
    assert body == before.get_data()
    assert _sops(body) == [ds.SOPInstanceUID for ds in datasets]

    after = client.get(f"{base}/studies/{study}/metadata")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert _sops(after.get_data()) == [ds.SOPInstanceUID for ds in datasets[:-1]] + [
        added.SOPInstanceUID]


def test_retrieve_metadata_client_gone_mid_body_gives_the_connection_back(
        make_app, partition_mode, base, batch_of_two):
    # Not the ``client`` fixture: pytest-flask keeps one app context (and ``g.db``) for the
    # whole test; here every request has its own, released at its teardown, as in a server.
    client = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned").test_client()
    study, _ = _study(client, base, (7,))
    url = f"{base}/studies/{study}/metadata"
    in_use = value(scrape(client), IN_USE)

    response = client.get(url, buffered=False)
    next(iter(response.response))
    assert value(scrape(client), IN_USE) == in_use + 1  # the body holds its connection
    response.close()  # the client went away: waitress closes the body
    assert value(scrape(client), IN_USE) == in_use

    response = client.get(url, buffered=False)  # closed before its first piece
    response.close()
    assert client.head(url).status_code == 200  # a HEAD request sends no body
    assert value(scrape(client), IN_USE) == in_use
    assert len(json.loads(client.get(url).get_data())) == 7


def test_retrieve_metadata_streamed_with_a_pool_of_one(make_app, backend, partition_mode, base,
                                                       batch_of_two):
    """PostgreSQL: a body that kept its connection would leave the next request none."""
    if backend != "postgresql":
        pytest.skip("the PostgreSQL connection pool")
    client = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                      DB_POOL_SIZE=1).test_client()
    study, datasets = _study(client, base, (5,))
    url = f"{base}/studies/{study}/metadata"
    response = client.get(url, buffered=False)
    next(iter(response.response))
    response.close()
    for _ in range(3):
        assert len(json.loads(client.get(url).get_data())) == 5
    assert client.get(instance_url(base, datasets[0]) + "/metadata").status_code == 200

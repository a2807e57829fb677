"""Data partitions through HTTP (issue #2, reference.md §2, decisions §2)."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest

from app.api.edge import get_database
from app.services import partitions as partition_service
from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3

PREFIXES = ["", "/v1", "/v1.0-prerelease", "/v2"]
INVALID_NAMES = ["a" * 65, "a b", "caf\u00e9", "..", ".", "a;DROP TABLE partitions;--",
                 "x'or'1'='1", "a@b", "%25", "a%20b"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_partitions_feature_off_returns_400(make_app, prefix):
    client = make_app().test_client()
    response = client.get(f"{prefix}/partitions")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "Data partitions feature is disabled."


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_partitions_feature_on_lists_default(make_app, prefix):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    response = client.get(f"{prefix}/partitions")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    [default] = response.json
    assert default["partitionKey"] == 1
    assert default["partitionName"] == "Microsoft.Default"
    assert datetime.fromisoformat(default["createdDate"]).tzinfo is not None


def test_list_partitions_after_implicit_creation_ordered_by_key(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    for name in ("Zeta", "alpha"):
        assert store(client, f"/partitions/{name}", make_dataset()).status_code == 200
    names = [p["partitionName"] for p in client.get("/partitions").json]
    keys = [p["partitionKey"] for p in client.get("/partitions").json]
    assert names == ["Microsoft.Default", "Zeta", "alpha"]
    assert keys == sorted(keys)


def test_partition_names_compare_case_insensitively_keeping_first_spelling(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    assert store(client, "/partitions/sitea", make_dataset()).status_code == 200
    names = [p["partitionName"] for p in client.get("/partitions").json]
    assert names == ["Microsoft.Default", "SiteA"]


def test_a_store_by_another_spelling_answers_with_the_stored_name(make_app):
    """The store finds the partition by the requested name (#23): the response's URLs, the
    change feed and the statistics are the stored partition's, one part or several."""
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    for datasets in ([make_dataset()], [make_dataset(), make_dataset()]):
        response = store(client, "/partitions/SITEA", *datasets)
        assert response.status_code == 200, response.data
        urls = [values(item, "00081190")[0]
                for item in values(response.json, "00081199")]
        assert len(urls) == len(datasets)
        assert all("/partitions/SiteA/studies/" in url for url in urls), urls
    assert client.get("/partitions/sitea").json["statistics"]["instances"] == 4
    feed = client.get("/partitions/SiteA/changefeed?includeMetadata=false").json
    assert len(feed) == 4


@pytest.mark.parametrize("prefix", PREFIXES)
def test_partition_route_feature_off_returns_400(make_app, prefix):
    client = make_app().test_client()
    response = store(client, "/partitions/SiteA", make_dataset(), prefix=prefix)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Data partitions feature is disabled."


@pytest.mark.parametrize("prefix", PREFIXES)
def test_plain_route_feature_on_returns_missing_partition(make_app, prefix):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    response = store(client, "", make_dataset(), prefix=prefix)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "PartitionName value is missing in the route segment.")


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_partition_name_returns_400_and_creates_nothing(make_app, name):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    response = store(client, f"/partitions/{name}", make_dataset())
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "The specified PartitionName is invalid. "
    assert len(client.get("/partitions").json) == 1


@pytest.mark.parametrize("path", ["/partitions//studies", "/partitions/a%2Fb/studies",
                                  "/partitions/a/b/studies", "/v1/partitions/a%2fb/studies"])
def test_unroutable_partition_name_returns_invalid_name(make_app, path):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    response = client.post(path, data=b"", headers={"Content-Type": "application/dicom"})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "The specified PartitionName is invalid. "


def test_unroutable_partition_name_feature_off_returns_disabled(make_app):
    client = make_app().test_client()
    response = client.post("/partitions/a%2Fb/studies", data=b"")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Data partitions feature is disabled."


@pytest.mark.parametrize("name", ["fooBAR", "fooBAR123.-_", "62f5c7eb-124a-49b1-9e5c-17c81a1a7137",
                                  "13.14.520", "1", "a" * 64])
def test_valid_partition_names_are_created_by_store(make_app, name):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(client, f"/partitions/{name}", make_dataset()).status_code == 200
    assert name in [p["partitionName"] for p in client.get("/partitions").json]


def test_failed_store_leaves_no_new_partition(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    response = store(client, "/partitions/Typo", b"not dicom at all")
    assert response.status_code == 409
    assert [p["partitionName"] for p in client.get("/partitions").json] == ["Microsoft.Default"]


def test_concurrent_get_or_add_creates_one_partition(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    database = get_database(app)
    barrier = threading.Barrier(4)
    keys, errors = [], []

    def create() -> None:
        try:
            with database.connection() as conn:
                barrier.wait()
                with conn.transaction():
                    keys.append(partition_service.get_or_add_partition(conn, "Race").partition_key)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(keys)) == 1
    with database.connection() as conn:
        names = [p.partition_name for p in partition_service.list_partitions(conn)]
    assert names.count("Race") == 1

"""Renaming a partition and its quota (issue #20): PATCH /partitions/{name}."""
from __future__ import annotations

import json
import threading

import pytest

from tests.api.helpers import store, values
from tests.api.partition_support import storing_into
from tests.dicom_factory import make_dataset, to_bytes

NOT_FOUND = "Specified PartitionName does not exist."
INVALID = "The specified PartitionName is invalid. "
OUT_OF_RESOURCES = 42752
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(make_app):
    return make_app(ENABLE_DATA_PARTITIONS=True).test_client()


def patch(client, name: str, body) -> object:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.patch(f"/partitions/{name}", data=data, headers=JSON)


def _text(response) -> tuple[int, str]:
    return response.status_code, response.get_data(as_text=True)


def _failure_reasons(response) -> list[int]:
    return [values(item, "00081197")[0] for item in values(response.json, "00081198")]


def _instances(client, name: str) -> int:
    return client.get(f"/partitions/{name}").json["statistics"]["instances"]


# --- rename -------------------------------------------------------------------------------

def test_rename_keeps_key_and_data_under_the_new_name(client):
    ds = make_dataset()
    assert store(client, "/partitions/SiteA", ds).status_code == 200
    before = client.get("/partitions/SiteA").json
    response = patch(client, "SiteA", {"partitionName": "Hospital-B"})
    assert response.status_code == 200
    assert response.json["partitionKey"] == before["partitionKey"]
    assert response.json["partitionName"] == "Hospital-B"
    assert response.json["statistics"] == before["statistics"]
    assert _text(client.get("/partitions/SiteA")) == (400, NOT_FOUND)
    assert _text(client.get("/partitions/SiteA/studies")) == (400, NOT_FOUND)
    found = client.get(f"/partitions/Hospital-B/studies?StudyInstanceUID={ds.StudyInstanceUID}")
    assert found.status_code == 200
    instance = (f"/partitions/Hospital-B/studies/{ds.StudyInstanceUID}/series/"
                f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
    assert client.get(instance, headers={"Accept": "application/dicom"}).data == to_bytes(ds)
    # The change feed reports the current name, for entries written before the rename too.
    assert {e["partitionName"] for e in client.get("/changefeed").json} == {"Hospital-B"}
    assert [p["partitionName"] for p in client.get("/partitions").json] == [
        "Microsoft.Default", "Hospital-B"]


def test_a_rename_is_seen_at_once_by_another_server_on_the_same_database(make_app):
    first = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    second = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    assert store(first, "/partitions/SiteA", make_dataset()).status_code == 200
    assert second.get("/partitions/SiteA/studies").status_code == 200
    assert patch(first, "SiteA", {"partitionName": "SiteB"}).status_code == 200
    assert _text(second.get("/partitions/SiteA/studies")) == (400, NOT_FOUND)
    assert second.get("/partitions/SiteB/studies").status_code == 200


def test_rename_changing_only_the_case_keeps_the_new_spelling(client):
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    assert patch(client, "sitea", {"partitionName": "SITEA"}).json["partitionName"] == "SITEA"
    assert patch(client, "SITEA", {"partitionName": "SITEA"}).status_code == 200  # no change


def test_rename_errors(client):
    for name in ("SiteA", "SiteB"):
        assert store(client, f"/partitions/{name}", make_dataset()).status_code == 200
    assert _text(patch(client, "SiteA", {"partitionName": "siteb"})) == (
        409, "A partition named 'siteb' already exists.")
    assert _text(patch(client, "SiteA", {"partitionName": "microsoft.default"})) == (
        409, "A partition named 'microsoft.default' already exists.")
    for name in ("a b", "a@b", "a" * 65, ""):
        assert _text(patch(client, "SiteA", {"partitionName": name})) == (400, INVALID)
    assert _text(patch(client, "Microsoft.Default", {"partitionName": "Other"})) == (
        400, "The default partition 'Microsoft.Default' cannot be renamed.")
    assert _text(patch(client, "Nowhere", {"partitionName": "Other"})) == (400, NOT_FOUND)
    assert _text(patch(client, "a@b", {"partitionName": "Other"})) == (400, INVALID)
    assert [p["partitionName"] for p in client.get("/partitions").json] == [
        "Microsoft.Default", "SiteA", "SiteB"]


@pytest.mark.parametrize("body, text", [
    ({}, "The request body has neither partitionName nor quota."),
    ([], "The request body must be a JSON object."),
    ({"name": "x"}, 'The field is not supported: "name".'),
    ({"partitionName": 3}, "The field 'partitionName' in request body is invalid: "
                           "Not a valid string."),
    ({"quota": 5}, "The field 'quota' in request body is invalid: Not a valid object."),
    ({"quota": {"maxStudies": 5}}, 'The field is not supported: "quota.maxStudies".'),
    ({"quota": {"maxInstances": -1}}, "The field 'quota.maxInstances' in request body is "
     "invalid: Must be greater than or equal to 0 and less than or equal to "
     "9223372036854775807."),
    ({"quota": {"maxBytes": 1.5}}, "The field 'quota.maxBytes' in request body is invalid: "
                                   "Not a valid integer."),
    ({"quota": {"maxBytes": "10"}}, "The field 'quota.maxBytes' in request body is invalid: "
                                    "Not a valid integer."),
    ({"quota": {"maxInstances": True}}, "The field 'quota.maxInstances' in request body is "
                                        "invalid: Not a valid integer."),
    (b"{", "The syntax of the request body is invalid."),
])
def test_invalid_bodies_are_400(client, body, text):
    assert _text(patch(client, "Microsoft.Default", body)) == (400, text)


def test_patch_needs_a_json_body_and_the_feature(client, make_app):
    response = client.patch("/partitions/Microsoft.Default", data=b"{}",
                            headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.data) == (415, b"")
    assert _text(patch(make_app().test_client(), "Microsoft.Default", {"quota": None})) == (
        400, "Data partitions feature is disabled.")


def test_rename_racing_stores_loses_no_acknowledged_instance(make_app):
    """Stores into SiteA while it becomes SiteB: each acknowledged instance is in SiteB (stored
    before or during the rename) or in a new SiteA (created by a store after it)."""
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    assert store(app.test_client(), "/partitions/SiteA", make_dataset()).status_code == 200
    with storing_into(app, "SiteA", parts=3) as load:
        load.wait_for(4)
        assert patch(app.test_client(), "SiteA", {"partitionName": "SiteB"}).status_code == 200
        load.wait_for(12)
    client = app.test_client()
    counts = [_instances(client, name) for name in ("SiteA", "SiteB")]
    assert sum(counts) == len(load.stored) + 1
    assert counts[1] >= 1 + 4 * 3  # all that was acknowledged before the rename, at least
    for name, count in zip(("SiteA", "SiteB"), counts):
        found = client.get(f"/partitions/{name}/instances?limit=200")
        assert len(found.json) == count


# --- quota --------------------------------------------------------------------------------

def test_quota_of_instances_fails_the_parts_beyond_it_with_42752(client):
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    response = patch(client, "SiteA", {"quota": {"maxInstances": 3}})
    assert response.json["quota"] == {"maxInstances": 3, "maxBytes": None}
    datasets = [make_dataset() for _ in range(4)]
    response = store(client, "/partitions/SiteA", *datasets)
    assert response.status_code == 202
    assert _failure_reasons(response) == [OUT_OF_RESOURCES, OUT_OF_RESOURCES]
    failed = {values(item, "00081155")[0] for item in values(response.json, "00081198")}
    assert failed == {ds.SOPInstanceUID for ds in datasets[2:]}
    assert _instances(client, "SiteA") == 3
    for ds in datasets[2:]:  # nothing of a refused part is indexed
        assert client.get(f"/partitions/SiteA/instances?SOPInstanceUID={ds.SOPInstanceUID}"
                          ).status_code == 204
    # One part alone: 409 with the same reason.
    single = to_bytes(make_dataset())
    response = client.post("/partitions/SiteA/studies", data=single,
                           headers={"Content-Type": "application/dicom"})
    assert (response.status_code, _failure_reasons(response)) == (409, [OUT_OF_RESOURCES])
    # Another partition is not limited; removing the quota lifts the limit.
    assert store(client, "/partitions/SiteB", make_dataset()).status_code == 200
    assert patch(client, "SiteA", {"quota": None}).json["quota"] == {
        "maxInstances": None, "maxBytes": None}
    assert store(client, "/partitions/SiteA", *datasets[2:]).status_code == 200


def test_quota_of_bytes_admits_what_fits_in_order(client):
    big, small = make_dataset(rows=32, columns=32), make_dataset()
    first = make_dataset()
    assert store(client, "/partitions/SiteA", first).status_code == 200
    used = client.get("/partitions/SiteA").json["statistics"]["bytesStored"]
    limit = used + len(to_bytes(small))
    assert patch(client, "SiteA", {"quota": {"maxBytes": limit}}).status_code == 200
    response = store(client, "/partitions/SiteA", big, small)
    assert response.status_code == 202
    assert _failure_reasons(response) == [OUT_OF_RESOURCES]  # the big one; the small fits
    assert client.get("/partitions/SiteA").json["statistics"]["bytesStored"] == limit
    # Changing one limit keeps the other.
    quota = patch(client, "SiteA", {"quota": {"maxInstances": 10}}).json["quota"]
    assert quota == {"maxInstances": 10, "maxBytes": limit}


def test_four_concurrent_clients_cannot_overshoot_the_quota(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    assert store(app.test_client(), "/partitions/SiteA", make_dataset()).status_code == 200
    assert patch(app.test_client(), "SiteA", {"quota": {"maxInstances": 25}}).status_code == 200
    outcomes: list[tuple[int, list[int]]] = []

    def client_stores() -> None:
        client = app.test_client()
        for _ in range(2):
            response = store(client, "/partitions/SiteA", *[make_dataset() for _ in range(5)])
            outcomes.append((len(values(response.json, "00081199")),
                             _failure_reasons(response)))

    threads = [threading.Thread(target=client_stores) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(stored for stored, _ in outcomes) == 24
    assert {r for _, reasons in outcomes for r in reasons} == {OUT_OF_RESOURCES}
    assert _instances(app.test_client(), "SiteA") == 25
    found = app.test_client().get("/partitions/SiteA/instances?limit=200").json
    assert len(found) == 25


def test_quota_below_what_the_partition_holds_refuses_every_new_instance(client):
    assert store(client, "/partitions/SiteA", make_dataset(), make_dataset()).status_code == 200
    assert patch(client, "SiteA", {"quota": {"maxInstances": 1}}).status_code == 200
    response = store(client, "/partitions/SiteA", make_dataset())
    assert (response.status_code, _failure_reasons(response)) == (409, [OUT_OF_RESOURCES])
    assert _instances(client, "SiteA") == 2  # nothing is removed
    study = client.get("/partitions/SiteA/studies").json[0]
    assert values(study, "0020000D")

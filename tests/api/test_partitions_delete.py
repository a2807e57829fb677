"""Deleting a partition (issue #20): DELETE /partitions/{name} and its deletePartition
operation, through the API on both databases."""
from __future__ import annotations

import json

import pytest

from app.api.edge import get_database
from app.dao import maintenance as maintenance_dao
from app.worker import run_pending_once
from tests.api.helpers import store, values
from tests.api.partition_support import storing_into
from tests.api.stow_support import blob_files
from tests.api.workitem_support import JSON_HEADERS, create
from tests.dicom_factory import make_dataset, to_bytes

NOT_FOUND = "Specified PartitionName does not exist."
DELETING = "The partition '{}' is being deleted."


@pytest.fixture
def app(make_app):
    return make_app(ENABLE_DATA_PARTITIONS=True)


def _text(response) -> tuple[int, str]:
    return response.status_code, response.get_data(as_text=True)


def _delete(client, name: str) -> str:
    """Start the deletion; the operation's URL."""
    response = client.delete(f"/partitions/{name}")
    assert response.status_code == 202, response.data
    assert response.json["href"] == response.headers["Location"]
    assert response.json["href"].endswith(f"/operations/{response.json['id']}")
    return response.headers["Location"].split("://", 1)[1].split("/", 1)[1]


def _operation(client, url: str) -> dict:
    return client.get(f"/{url}").json


def _instance_url(name: str, ds) -> str:
    return (f"/partitions/{name}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


#: Rows of the partition that only the database shows (the API cannot address a deleted key).
_LEFT = {table: f"SELECT count(*) AS n FROM {table} WHERE partition_key = ?" for table in (
    "studies", "series", "instances", "instance_metadata", "workitems",
    "workitem_sequence_values", "extended_query_tag_string", "study_name_words",
    "partition_statistics")}


def _rows_left(app, partition_key: int) -> dict[str, int]:
    with get_database(app).connection() as conn:
        return {table: int(conn.fetchall(sql, [partition_key])[0]["n"])
                for table, sql in _LEFT.items()}


def test_delete_removes_everything_and_frees_the_name(app):
    client = app.test_client()
    tag = client.post("/extendedquerytags", json=[{"path": "0008103E", "vr": "LO",
                                                   "level": "Series"}])
    assert tag.status_code == 202
    assert run_pending_once(app) == 1  # the (empty) re-index
    datasets = [make_dataset(SeriesDescription="Chest") for _ in range(3)]
    assert store(client, "/partitions/SiteA", *datasets).status_code == 200
    assert create(client, "/partitions/SiteA").status_code == 201
    key = client.get("/partitions/SiteA").json["partitionKey"]
    left = _rows_left(app, key)
    assert all(left[t] > 0 for t in ("instances", "workitems", "extended_query_tag_string",
                                     "study_name_words", "partition_statistics")), left
    url = _delete(client, "SiteA")
    operation = _operation(client, url)
    assert (operation["type"], operation["status"]) == ("deletePartition", "notStarted")
    # While it runs: stores are refused, the data is still readable.
    assert _text(store(client, "/partitions/SiteA", make_dataset())) == (
        409, DELETING.format("SiteA"))
    assert _text(client.delete("/partitions/sitea")) == (409, DELETING.format("SiteA"))
    assert _text(client.patch("/partitions/SiteA", data=json.dumps({"quota": None}),
                              headers={"Content-Type": "application/json"})) == (
        409, DELETING.format("SiteA"))
    assert client.get("/partitions/SiteA/studies").status_code == 200
    assert run_pending_once(app) == 1
    operation = _operation(client, url)
    assert (operation["status"], operation["percentComplete"]) == ("succeeded", 100)
    assert _text(client.get("/partitions/SiteA")) == (400, NOT_FOUND)
    assert _text(client.get("/partitions/SiteA/studies")) == (400, NOT_FOUND)
    dicom = {"Accept": "application/dicom; transfer-syntax=*"}
    assert _text(client.get(_instance_url("SiteA", datasets[1]), headers=dicom)) == (
        400, NOT_FOUND)
    assert [p["partitionName"] for p in client.get("/partitions").json] == ["Microsoft.Default"]
    assert blob_files(app) == []
    assert set(_rows_left(app, key).values()) == {0}
    # Each instance has its Delete entry, under the partition's name.
    feed = client.get("/changefeed?includeMetadata=false").json
    deletes = {e["sopInstanceUid"] for e in feed if e["action"] == "Delete"}
    assert deletes == {ds.SOPInstanceUID for ds in datasets}
    assert {e["partitionName"] for e in feed} == {"SiteA"}
    assert {e["state"] for e in feed if e["action"] == "Create"} == {"Deleted"}
    # The name is free: a store creates a new, empty partition (another key).
    restored = store(client, "/partitions/SiteA", datasets[0])
    assert restored.status_code == 200, restored.data
    again = client.get("/partitions/SiteA").json
    assert again["statistics"]["instances"] == 1 and again["partitionKey"] != key
    assert client.get(_instance_url("SiteA", datasets[1]), headers=dicom).status_code == 404
    assert client.get(_instance_url("SiteA", datasets[0]), headers=dicom).data == to_bytes(
        datasets[0])
    assert client.get("/partitions/SiteA/workitems", headers=JSON_HEADERS).status_code == 204


def test_delete_of_a_partition_sharing_files_with_another_keeps_every_byte_there(app):
    client = app.test_client()
    shared, own = make_dataset(), make_dataset()
    assert store(client, "/partitions/SiteA", shared, own).status_code == 200
    assert store(client, "/partitions/SiteB", shared).status_code == 200
    assert len(blob_files(app)) == 2
    _delete(client, "SiteA")
    assert run_pending_once(app) == 1
    assert len(blob_files(app)) == 1  # the file only SiteA had is gone
    response = client.get(_instance_url("SiteB", shared), headers={"Accept": "application/dicom"})
    assert response.status_code == 200
    assert response.data == to_bytes(shared)
    statistics = client.get("/partitions/SiteB").json["statistics"]
    assert statistics["instances"] == 1 and statistics["bytesOnDisk"] == len(to_bytes(shared))


def test_a_store_into_a_partition_being_deleted_gets_its_answer_whatever_else_it_has(app):
    """A STOW finds its partition in the store's first statement, not in the hook (#23); the
    answer stays the hook's, for any spelling of the name and whatever else the request has
    (one part or several, none, an invalid part, a wrong Accept or content type), and
    nothing of it is stored."""
    client = app.test_client()
    kept = make_dataset()
    assert store(client, "/partitions/SiteA", kept).status_code == 200
    _delete(client, "SiteA")
    deleting = (409, DELETING.format("SiteA"))
    single = to_bytes(make_dataset())
    requests = {
        "one part": store(client, "/partitions/SiteA", single),
        "another spelling": store(client, "/v2/partitions/sitea", make_dataset()),
        "into a study": store(client, "/partitions/SiteA", make_dataset(),
                              study=kept.StudyInstanceUID),
        "application/dicom": client.post("/partitions/SiteA/studies", data=single,
                                         headers={"Content-Type": "application/dicom"}),
        "several parts": store(client, "/partitions/SiteA", make_dataset(), make_dataset()),
        "no part": store(client, "/partitions/SiteA"),
        "not DICOM": store(client, "/partitions/SiteA", b"not DICOM"),
        "the same instance": store(client, "/partitions/SiteA", kept),
        "Accept": store(client, "/partitions/SiteA", make_dataset(),
                        headers={"Accept": "text/html"}),
        "content type": client.post("/partitions/SiteA/studies", data=b"x",
                                    headers={"Content-Type": "text/plain"}),
    }
    assert {what: _text(r) for what, r in requests.items()} == {
        what: deleting for what in requests}
    assert len(blob_files(app)) == 1  # kept's
    run_pending_once(app)
    assert blob_files(app) == []


def test_delete_errors(app, make_app):
    client = app.test_client()
    assert _text(client.delete("/partitions/Microsoft.Default")) == (
        400, "The default partition 'Microsoft.Default' cannot be deleted.")
    assert _text(client.delete("/partitions/Nowhere")) == (400, NOT_FOUND)
    assert _text(client.delete("/partitions/a@b")) == (
        400, "The specified PartitionName is invalid. ")
    assert _text(make_app().test_client().delete("/partitions/SiteA")) == (
        400, "Data partitions feature is disabled.")


def test_an_empty_partition_is_deleted_too(app):
    client = app.test_client()
    ds = make_dataset()
    assert store(client, "/partitions/SiteA", ds).status_code == 200
    assert client.delete(f"/partitions/SiteA/studies/{ds.StudyInstanceUID}").status_code == 204
    url = _delete(client, "SiteA")
    run_pending_once(app)
    assert _operation(client, url)["status"] == "succeeded"
    assert _text(client.get("/partitions/SiteA")) == (400, NOT_FOUND)


def test_delete_racing_stores_leaves_nothing_behind(app):
    """Stores into SiteA while it is deleted: each one is stored and then deleted, or refused;
    afterwards nothing of SiteA is indexed and no file is left."""
    assert store(app.test_client(), "/partitions/SiteA", make_dataset()).status_code == 200
    with storing_into(app, "SiteA") as load:
        load.wait_for(5)
        url = _delete(app.test_client(), "SiteA")
        run_pending_once(app)
        load.wait_for(15)
    client = app.test_client()
    assert _operation(client, url)["status"] == "succeeded"
    assert 409 in load.statuses  # refused while it was being deleted
    # Requests after the deletion finished created a new SiteA; before it, stored then deleted
    # or refused. Delete the new one too, then nothing is left anywhere.
    if client.get("/partitions/SiteA").status_code == 200:
        _delete(client, "SiteA")
        run_pending_once(app)
    # Files left are those of stores refused in their transaction (written before it): no
    # index row references them, so the blob sweep removes them.
    with get_database(app).connection() as conn:
        assert maintenance_dao.referenced_blob_keys(
            conn, [path.name for path in blob_files(app)]) == set()
    assert [p["partitionName"] for p in client.get("/partitions").json] == ["Microsoft.Default"]
    feed = client.get("/changefeed?includeMetadata=false&limit=200").json
    created = {e["sopInstanceUid"] for e in feed if e["action"] == "Create"}
    deleted = {e["sopInstanceUid"] for e in feed if e["action"] == "Delete"}
    assert created == deleted


def test_a_failed_deletion_gives_the_partition_back(app, monkeypatch):
    from app.services import partition_deletion

    client = app.test_client()
    ds = make_dataset()
    assert store(client, "/partitions/SiteA", ds).status_code == 200
    url = _delete(client, "SiteA")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(partition_deletion.delete_service, "delete_study", broken)
    for _ in range(3):
        run_pending_once(app)
    assert _operation(client, url)["status"] == "failed"
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    assert values(client.get("/partitions/SiteA/studies").json[0], "0020000D")

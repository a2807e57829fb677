"""DELETE racing STOW of the same study (issue #6): the index and the files stay consistent."""
from __future__ import annotations

import threading
from typing import Any, Callable

from tests.api.helpers import store
from tests.api.test_delete import files, rows
from tests.dicom_factory import make_dataset, to_bytes

ROUNDS = 25


def _run(*workers: Callable[[], None]) -> None:
    threads = [threading.Thread(target=worker) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


def assert_consistent(app: Any) -> None:
    """Every instance has its file and blob row; every blob row counts exactly its instances
    and has its file; no empty series or study; change feed current for every instance."""
    on_disk = files(app)
    blobs = {r["blob_key"]: int(r["ref_count"]) for r in rows(app, "SELECT * FROM blobs")}
    instances = rows(app, "SELECT * FROM instances")
    references: dict[str, int] = {}
    for instance in instances:
        assert instance["status"] == 1
        references[instance["blob_key"]] = references.get(instance["blob_key"], 0) + 1
        assert instance["blob_key"] in on_disk
    assert blobs == references
    assert set(blobs) <= on_disk
    assert rows(app, "SELECT series_key FROM series s WHERE NOT EXISTS "
                     "(SELECT 1 FROM instances i WHERE i.series_key = s.series_key)") == []
    assert rows(app, "SELECT study_key FROM studies s WHERE NOT EXISTS "
                     "(SELECT 1 FROM instances i WHERE i.study_key = s.study_key)") == []
    assert len(rows(app, "SELECT watermark FROM instance_metadata")) == len(instances)
    for instance in instances:
        [latest] = rows(app, "SELECT action, current_watermark FROM change_feed "
                             "WHERE partition_key = ? AND sop_instance_uid = ? "
                             "ORDER BY sequence DESC LIMIT 1",
                        (instance["partition_key"], instance["sop_instance_uid"]))
        assert latest == {"action": 0, "current_watermark": instance["watermark"]}


def test_delete_study_while_storing_it_leaves_consistent_state(make_app):
    app = make_app()
    ds = make_dataset()
    sibling = make_dataset(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    data, sibling_data = to_bytes(ds), to_bytes(sibling)
    errors: list[str] = []

    def storer(payload: bytes) -> Callable[[], None]:
        def work() -> None:
            client = app.test_client()
            for _ in range(ROUNDS):
                status = store(client, "", payload).status_code
                if status not in (200, 409):
                    errors.append(f"store {status}")
        return work

    def deleter() -> None:
        client = app.test_client()
        for _ in range(ROUNDS):
            status = client.delete(f"/studies/{ds.StudyInstanceUID}").status_code
            if status not in (204, 404):
                errors.append(f"delete {status}")

    _run(storer(data), storer(sibling_data), deleter)
    assert errors == []
    assert_consistent(app)


def test_delete_in_one_partition_while_another_stores_the_same_file_keeps_it(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    ds = make_dataset()
    data = to_bytes(ds)
    errors: list[str] = []

    def cycle(partition: str) -> Callable[[], None]:
        def work() -> None:
            client = app.test_client()
            for _ in range(ROUNDS):
                stored = store(client, f"/partitions/{partition}", data).status_code
                deleted = client.delete(
                    f"/partitions/{partition}/studies/{ds.StudyInstanceUID}").status_code
                if stored != 200 or deleted != 204:
                    errors.append(f"{partition}: store {stored}, delete {deleted}")
        return work

    def keeper() -> None:  # stores into SiteC once, midway; its copy must survive
        client = app.test_client()
        if store(client, "/partitions/SiteC", data).status_code != 200:
            errors.append("SiteC store failed")

    _run(cycle("SiteA"), cycle("SiteB"), keeper)
    assert errors == []
    assert_consistent(app)
    assert len(rows(app, "SELECT * FROM instances")) == 1
    response = app.test_client().get("/partitions/SiteC/changefeed/latest")
    assert response.json["action"] == "Create" and response.json["state"] == "Current"

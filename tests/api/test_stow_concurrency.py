"""STOW-RS against concurrent writers (issue #3): on PostgreSQL, the study and series rows a
store leaves unchanged, and its waits for a DELETE holding them; on both databases, a store
whose study row vanished runs again."""
from __future__ import annotations

import threading
import time
from typing import Any

import psycopg2
import pytest

from tests.api.helpers import DICOM_JSON, store
from tests.api.stow_support import count, rows
from tests.dicom_factory import make_dataset, to_bytes, uid
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3


def test_store_leaves_unchanged_study_and_series_rows_alone(make_app, backend):
    """PostgreSQL: an instance whose study and series values are already recorded writes no new
    version of those rows (no row lock for concurrent stores into the study to wait on); a
    changed value still updates them."""
    if backend != "postgresql":
        pytest.skip("row versions (xmin) are PostgreSQL's")
    app = make_app()
    client = app.test_client()
    study, series = uid(), uid()

    def versions() -> tuple[str, str]:
        [st] = rows(app, "SELECT CAST(xmin AS text) AS v FROM studies")
        [se] = rows(app, "SELECT CAST(xmin AS text) AS v FROM series")
        return st["v"], se["v"]

    assert store(client, "", make_dataset(study, series, StudyDescription="one")).status_code == 200
    before = versions()
    assert store(client, "", make_dataset(study, series, StudyDescription="one")).status_code == 200
    assert store(client, "", make_dataset(study, series, StudyDescription=None)).status_code == 200
    assert versions() == before
    assert store(client, "", make_dataset(study, series, StudyDescription="one",
                                          Modality="MR")).status_code == 200
    assert versions()[0] == before[0] and versions()[1] != before[1]
    assert rows(app, "SELECT modality FROM series") == [{"modality": "MR"}]
    assert store(client, "", make_dataset(study, series, StudyDescription="two",
                                          Modality="MR")).status_code == 200
    assert versions()[0] != before[0]
    assert rows(app, "SELECT study_description FROM studies") == [{"study_description": "two"}]
    assert count(app, "instances") == 5


def _wait_for_a_blocked_session(database_url: str) -> None:
    """Until a session of this database waits for a row lock (the store, behind the deleter's
    transaction); at most 30 s."""
    watcher = psycopg2.connect(database_url)
    watcher.autocommit = True  # a fresh view of pg_stat_activity on every query
    deadline = time.monotonic() + 30
    try:
        with watcher.cursor() as cur:
            while True:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                            " current_database() AND backend_type = 'client backend'"
                            " AND wait_event_type = 'Lock'")
                if cur.fetchone()[0]:
                    return
                assert time.monotonic() < deadline, "the store never waited for the lock"
                time.sleep(0.02)
    finally:
        watcher.close()


def test_store_waits_for_a_concurrent_delete_of_its_study_and_recreates_it(
        make_app, backend, database_url):
    """PostgreSQL: the study row a store finds unchanged is deleted (last instance deleted) by
    a transaction that commits while the store waits for it: the store makes a new study row
    and answers 200."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL row locks")
    app = make_app()
    client = app.test_client()
    first = make_dataset()
    second = make_dataset(first.StudyInstanceUID, first.SeriesInstanceUID)
    assert store(client, "", first).status_code == 200
    deleter = psycopg2.connect(database_url)
    try:
        with deleter.cursor() as cur:  # what deleting the study's last instance does
            cur.execute("DELETE FROM instance_metadata")
            cur.execute("DELETE FROM change_feed")
            cur.execute("DELETE FROM study_name_words")
            cur.execute("DELETE FROM instances")
            cur.execute("DELETE FROM series")
            cur.execute("DELETE FROM studies")
        outcome: list[int] = []
        storer = threading.Thread(
            target=lambda: outcome.append(store(app.test_client(), "", second).status_code))
        storer.start()
        _wait_for_a_blocked_session(database_url)  # the store waits for the study row's lock
        assert outcome == []
        deleter.commit()
        storer.join(timeout=30)
    finally:
        deleter.close()
    assert outcome == [200]
    assert count(app, "studies") == 1 and count(app, "instances") == 1
    response = client.get(f"/studies/{second.StudyInstanceUID}/metadata",
                          headers={"Accept": DICOM_JSON})
    assert response.status_code == 200 and len(response.get_json()) == 1


def _hold_study_like_a_delete(database_url: str, study_uid: str) -> Any:
    """A transaction holding the study row as DELETE does (lock_study_for_delete)."""
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SET lock_timeout = '5s'")
        cur.execute("SELECT study_key FROM studies WHERE study_instance_uid = %s FOR UPDATE",
                    (study_uid,))
    return conn


def test_store_of_unchanged_study_values_waits_for_a_delete_recomputing_them(
        make_app, backend, database_url):
    """PostgreSQL: a delete recomputes the study's columns from the instances left; a store
    whose values equal the row as it was before must wait for the delete and then write its
    values again (latest wins), not keep the delete's."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL row locks")
    app = make_app()
    client = app.test_client()
    study, series = uid(), uid()
    assert store(client, "", make_dataset(study, series, StudyDescription="X")).status_code == 200
    assert store(client, "", make_dataset(study, series, StudyDescription="Y")).status_code == 200
    deleter = _hold_study_like_a_delete(database_url, study)
    try:
        with deleter.cursor() as cur:  # the recomputed value after deleting the "Y" instance
            cur.execute("UPDATE studies SET study_description = 'X'")
        outcome: list[int] = []
        storer = threading.Thread(target=lambda: outcome.append(store(
            app.test_client(), "", make_dataset(study, series, StudyDescription="Y")
        ).status_code))
        storer.start()
        _wait_for_a_blocked_session(database_url)
        assert outcome == []  # waiting for the delete
        deleter.commit()
        storer.join(timeout=30)
    finally:
        deleter.close()
    assert outcome == [200]
    assert rows(app, "SELECT study_description FROM studies") == [{"study_description": "Y"}]


def test_store_changing_only_its_series_does_not_deadlock_with_a_delete(
        make_app, backend, database_url):
    """PostgreSQL: a store that leaves the study row unchanged but changes the series waits for
    a delete holding the study before it locks the series row, which the delete locks next."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL row locks")
    app = make_app()
    client = app.test_client()
    study, series = uid(), uid()
    assert store(client, "", make_dataset(study, series, SeriesNumber=1)).status_code == 200
    deleter = _hold_study_like_a_delete(database_url, study)
    try:
        outcome: list[int] = []
        storer = threading.Thread(target=lambda: outcome.append(store(
            app.test_client(), "", make_dataset(study, series, SeriesNumber=2)).status_code))
        storer.start()
        _wait_for_a_blocked_session(database_url)  # on the study row, before the series row
        with deleter.cursor() as cur:  # what delete_empty_series locks after the study
            cur.execute("SELECT series_key FROM series FOR UPDATE")
        deleter.commit()
        storer.join(timeout=30)
    finally:
        deleter.close()
    assert outcome == [200]
    assert rows(app, "SELECT series_number FROM series") == [{"series_number": 2}]


def test_store_starts_again_when_its_study_row_vanished(make_app, monkeypatch):
    """Should the study or series row still vanish before the instance row's foreign key is
    checked (StudyRemovedError), the store runs its transaction again."""
    from app.dao import instances as instances_dao

    app = make_app()
    real = instances_dao.add_instance
    calls: list[int] = []

    def vanished_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise instances_dao.StudyRemovedError()
        return real(*args, **kwargs)

    monkeypatch.setattr(instances_dao, "add_instance", vanished_once)
    response = store(app.test_client(), "", make_dataset())
    assert response.status_code == 200 and len(calls) == 2
    assert count(app, "instances") == 1


@pytest.mark.parametrize("parts", [1, 3])
def test_a_released_file_removed_between_a_stores_put_and_its_commit_is_still_there(
        make_app, backend, parts):
    """A DELETE in one partition releases a file that a store into another partition has just
    put (the same bytes) and removes it after its commit, while the store is held right after
    its puts: the store's instance keeps its file. On PostgreSQL with object storage the file's
    row is held before the put, so the removal waits for the store's commit and finds the
    file referenced again; elsewhere the store finds the file gone under its row lock and puts
    it again. The files, rows and reference counts agree afterwards."""
    from tests.api.test_delete_concurrency import assert_consistent

    app = make_app(ENABLE_DATA_PARTITIONS=True)
    study = uid()
    datasets = [make_dataset(study) for _ in range(parts)]
    client = app.test_client()
    assert store(client, "/partitions/SiteA", *datasets).status_code == 200
    blobs = app.extensions["dicom_blobs"]
    real_put, put_done, go = blobs.put, threading.Event(), threading.Event()

    def held_put(spool: Any) -> bool:
        written = real_put(spool)
        put_done.set()
        assert go.wait(30)
        return written

    outcome: dict[str, int] = {}

    def storer() -> None:
        outcome["store"] = store(app.test_client(), "/partitions/SiteB", *datasets).status_code

    def deleter() -> None:
        outcome["delete"] = app.test_client().delete(
            f"/partitions/SiteA/studies/{study}").status_code

    blobs.put = held_put
    threads = [threading.Thread(target=storer), threading.Thread(target=deleter)]
    try:
        threads[0].start()
        assert put_done.wait(30)
        threads[1].start()
        threads[1].join(2)  # the removal: done, or waiting for the store's rows
    finally:
        go.set()
        for thread in threads:
            thread.join(60)
        blobs.put = real_put
    assert outcome == {"store": 200, "delete": 204}
    assert_consistent(app)
    assert len(rows(app, "SELECT * FROM instances")) == parts
    for ds in datasets:
        response = app.test_client().get(
            f"/partitions/SiteB/studies/{study}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}",
            headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.status_code == 200 and response.data == to_bytes(ds)

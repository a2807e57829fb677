"""DELETE removes files only after the rows that reference them are committed away (issue #15,
item 1); released files a crash left behind are finished by the sweep."""
from __future__ import annotations

from typing import Any

from app.services.blob_sweep import sweep_blobs
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes

ANY_SYNTAX = {"Accept": "application/dicom; transfer-syntax=*"}


def _sql(app: Any, *statements: str) -> None:
    with app.extensions["dicom_db"].connection() as conn:
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)


def _url(base: str, ds: Any) -> str:
    return (f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def _app(make_app: Any, partition_mode: str) -> Any:
    """Not the ``app`` fixture: pytest-flask pushes a context for it, which every request
    then shares (with its connection, left in the failed transaction)."""
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned")


def test_a_delete_whose_commit_fails_keeps_every_file(make_app, partition_mode, base):
    """The delete's COMMIT fails (a deferred foreign key the test adds stands for a crash or a
    failed COMMIT): the instance stays listed and retrievable byte for byte. Unlinking before
    the commit left it listed without its file (retrieve: 500)."""
    app = _app(make_app, partition_mode)
    client = app.test_client()
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    _sql(app, "CREATE TABLE hold_instance (instance_key BIGINT REFERENCES instances "
              "(instance_key) DEFERRABLE INITIALLY DEFERRED)",
         "INSERT INTO hold_instance SELECT instance_key FROM instances")
    try:
        assert client.delete(f"{base}/studies/{ds.StudyInstanceUID}").status_code != 204
        with client.get(_url(base, ds), headers=ANY_SYNTAX) as response:
            assert response.status_code == 200 and response.data == to_bytes(ds)
    finally:
        _sql(app, "DROP TABLE hold_instance")
    assert client.delete(f"{base}/studies/{ds.StudyInstanceUID}").status_code == 204
    assert list(app.extensions["dicom_blobs"].keys()) == []
    assert client.get(_url(base, ds), headers=ANY_SYNTAX).status_code == 404


def test_released_files_left_by_a_crash_are_removed_by_the_sweep(make_app, partition_mode,
                                                                  base):
    """A crash after the delete committed, before its files were removed, leaves their rows
    released (no references) and their files: the sweep removes both; a file stored again
    meanwhile keeps its row and file."""
    app = _app(make_app, partition_mode)
    client = app.test_client()
    blobs = app.extensions["dicom_blobs"]
    gone, kept = make_dataset(), make_dataset()
    assert store(client, base, gone, kept).status_code == 200
    assert client.delete(f"{base}/studies/{gone.StudyInstanceUID}").status_code == 204
    key = blobs.put_bytes(to_bytes(gone))  # the state the crash left: file and released row
    _sql(app, "INSERT INTO blobs (blob_key, size, ref_count, created_date) "
              f"VALUES ('{key}', 1, 0, '2024-01-01T00:00:00+00:00')")

    report = sweep_blobs(app.extensions["dicom_db"], blobs)

    assert report.released == 1 and report.quarantined == 0
    assert not blobs.exists(key) and len(list(blobs.keys())) == 1
    assert rows_of(app, "SELECT ref_count FROM blobs") == [1]
    response = client.get(_url(base, kept), headers=ANY_SYNTAX)
    assert response.status_code == 200 and response.data == to_bytes(kept)


def rows_of(app: Any, sql: str) -> list[Any]:
    with app.extensions["dicom_db"].connection() as conn:
        return [row[0] for row in conn.fetch_tuples(sql)[1]]

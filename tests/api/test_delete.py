"""DELETE of studies, series and instances (issue #6, reference.md §6)."""
from __future__ import annotations

from typing import Any

import pytest

from app.dicomweb.identifiers import uid_error_message
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes, uid
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3


def rows(app: Any, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    """Run a read-only query against the app's database."""
    with app.extensions["dicom_db"].connection() as conn:
        return [dict(r) for r in conn.fetchall(sql, params)]


def count(app: Any, table: str) -> int:
    return int(rows(app, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def files(app: Any) -> set[str]:
    return set(app.extensions["dicom_blobs"].keys())


def instance_url(ds: Any) -> str:
    return (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def test_delete_instance_existing_returns_204_and_keeps_the_rest(app, client, base):
    study, series = uid(), uid()
    first, second = make_dataset(study, series), make_dataset(study, series)
    assert store(client, base, first, second).status_code == 200

    response = client.delete(f"{base}{instance_url(second)}")
    assert response.status_code == 204
    assert response.data == b""
    assert [r["sop_instance_uid"] for r in rows(app, "SELECT sop_instance_uid FROM instances")] \
        == [first.SOPInstanceUID]
    assert count(app, "series") == 1 and count(app, "studies") == 1
    assert count(app, "instance_metadata") == 1 and len(files(app)) == 1

    again = client.delete(f"{base}{instance_url(second)}")
    assert again.status_code == 404
    assert again.mimetype == "text/plain"
    assert again.get_data(as_text=True) == "The specified instance cannot be found."


def test_delete_series_then_last_series_removes_study(app, client, base):
    study = uid()
    a, b = make_dataset(study, uid()), make_dataset(study, uid())
    assert store(client, base, a, b).status_code == 200

    assert client.delete(f"/v2{base}/studies/{study}/series/{a.SeriesInstanceUID}"
                         ).status_code == 204
    assert count(app, "series") == 1 and count(app, "studies") == 1
    assert client.delete(f"{base}/studies/{study}/series/{b.SeriesInstanceUID}").status_code \
        == 204
    assert count(app, "series") == 0 and count(app, "studies") == 0
    gone = client.delete(f"{base}/studies/{study}/series/{b.SeriesInstanceUID}")
    assert gone.status_code == 404
    assert gone.get_data(as_text=True) == "The specified series cannot be found."


def test_delete_study_removes_rows_files_and_metadata(app, client, base):
    study, series = uid(), uid()
    datasets = [make_dataset(study, series) for _ in range(3)] + [make_dataset(study, uid())]
    assert store(client, base, *datasets).status_code == 200
    assert len(files(app)) == 4

    response = client.delete(f"/v1{base}/studies/{study}")
    assert response.status_code == 204
    for table in ("instances", "series", "studies", "instance_metadata", "blobs"):
        assert count(app, table) == 0, table
    assert files(app) == set()

    again = client.delete(f"{base}/studies/{study}")
    assert again.status_code == 404
    assert again.get_data(as_text=True) == "The specified study cannot be found."


@pytest.mark.parametrize("prefix", ["", "/v1", "/v1.0-prerelease", "/v2"])
def test_delete_missing_resources_returns_404_with_level_text(make_app, prefix):
    client = make_app().test_client()
    ds = make_dataset()
    assert store(client, "", ds).status_code == 200
    study, series = ds.StudyInstanceUID, ds.SeriesInstanceUID
    cases = {
        f"/studies/{uid()}": "The specified study cannot be found.",
        f"/studies/{uid()}/series/{uid()}": "The specified series cannot be found.",
        f"/studies/{study}/series/{uid()}": "The specified series cannot be found.",
        f"/studies/{uid()}/series/{uid()}/instances/{uid()}":
            "The specified instance cannot be found.",
        f"/studies/{study}/series/{series}/instances/{uid()}":
            "The specified instance cannot be found.",
    }
    for path, text in cases.items():
        response = client.delete(prefix + path)
        assert response.status_code == 404, path
        assert response.get_data(as_text=True) == text


def test_delete_invalid_uids_returns_400_naming_the_uid(make_app):
    client = make_app().test_client()
    good = uid()
    cases = {
        "/studies/notAStudyInstanceUid": "StudyInstanceUid",
        f"/studies/{good}/series/1.2.a": "SeriesInstanceUid",
        f"/studies/{good}/series/{good}/instances/{'1' * 65}": "SopInstanceUid",
        f"/studies/1.2./series/{good}/instances/{good}": "StudyInstanceUid",
    }
    for path, name in cases.items():
        response = client.delete(path)
        assert response.status_code == 400, path
        assert response.get_data(as_text=True) == uid_error_message(name)


def test_delete_partition_errors_return_400(make_app):
    off = make_app().test_client()
    response = off.delete(f"/partitions/SiteA/studies/{uid()}")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Data partitions feature is disabled."

    on = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    unknown = on.delete(f"/partitions/NoSuchSite/studies/{uid()}")
    assert unknown.status_code == 400
    assert unknown.get_data(as_text=True) == "Specified PartitionName does not exist."
    missing = on.delete(f"/studies/{uid()}")
    assert missing.status_code == 400
    assert missing.get_data(as_text=True) == "PartitionName value is missing in the route segment."


def test_delete_in_one_partition_keeps_the_other_and_the_shared_file(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    ds = make_dataset()
    data = to_bytes(ds)
    for name in ("SiteA", "SiteB"):
        assert store(client, f"/partitions/{name}", data).status_code == 200
    [key] = files(app)

    assert client.delete(f"/partitions/SiteA/studies/{ds.StudyInstanceUID}").status_code == 204
    assert files(app) == {key}
    assert rows(app, "SELECT ref_count FROM blobs") == [{"ref_count": 1}]
    remaining = rows(app, "SELECT p.partition_name FROM instances i JOIN partitions p "
                          "ON p.partition_key = i.partition_key")
    assert remaining == [{"partition_name": "SiteB"}]
    assert count(app, "studies") == 1

    again = client.delete(f"/partitions/SiteA{instance_url(ds)}")
    assert again.status_code == 404
    assert client.delete(f"/partitions/SiteB{instance_url(ds)}").status_code == 204
    assert files(app) == set() and count(app, "blobs") == 0 and count(app, "studies") == 0


def test_delete_instance_recomputes_study_and_series_columns(make_app):
    app = make_app()
    client = app.test_client()
    study, series = uid(), uid()
    old = make_dataset(study, series, AccessionNumber="OLD", PatientName="Old^Name",
                       Modality="MR", StudyDescription="only in old")
    new = make_dataset(study, series, AccessionNumber="NEW", PatientName="New^Name",
                       Modality="CT", StudyDescription=None, ManufacturerModelName="Scanner")
    assert store(client, "", old).status_code == 200
    assert store(client, "", new).status_code == 200
    [row] = rows(app, "SELECT accession_number, patient_name, patient_name_words, "
                      "study_description FROM studies")
    assert row["accession_number"] == "NEW" and row["study_description"] == "only in old"

    assert client.delete(instance_url(new)).status_code == 204
    [row] = rows(app, "SELECT accession_number, patient_name, patient_name_words, "
                      "study_description FROM studies")
    assert row == {"accession_number": "OLD", "patient_name": "Old^Name",
                   "patient_name_words": "old name", "study_description": "only in old"}
    [series_row] = rows(app, "SELECT modality, manufacturer_model_name FROM series")
    assert series_row == {"modality": "MR", "manufacturer_model_name": None}


def test_delete_study_removes_extended_query_tag_values_and_errors(make_app):
    app = make_app()
    client = app.test_client()
    ds, other = make_dataset(), make_dataset()
    assert store(client, "", ds, other).status_code == 200
    [inst] = rows(app, "SELECT partition_key, study_key, series_key, instance_key, watermark, "
                       "study_instance_uid, series_instance_uid, sop_instance_uid "
                       "FROM instances WHERE sop_instance_uid = ?", (ds.SOPInstanceUID,))
    [keep] = rows(app, "SELECT partition_key, study_key, watermark FROM instances "
                       "WHERE sop_instance_uid = ?", (other.SOPInstanceUID,))
    database = app.extensions["dicom_db"]
    with database.connection() as conn, conn.transaction():
        conn.execute("INSERT INTO extended_query_tags (tag_path, tag_vr, tag_level, tag_status, "
                     "error_count, created_time) VALUES ('00101010', 'AS', 0, 1, 2, ?)",
                     ("2024-01-01T00:00:00+00:00",))
        tag_key = conn.fetchall("SELECT tag_key FROM extended_query_tags")[0]["tag_key"]
        for level, (series_key, instance_key) in enumerate(
                [(0, 0), (inst["series_key"], 0), (inst["series_key"], inst["instance_key"])]):
            conn.execute("INSERT INTO extended_query_tag_string (tag_key, partition_key, "
                         "study_key, series_key, instance_key, watermark, tag_value) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (tag_key, inst["partition_key"], inst["study_key"], series_key,
                          instance_key, inst["watermark"], f"v{level}"))
        conn.execute("INSERT INTO extended_query_tag_long (tag_key, partition_key, study_key, "
                     "watermark, tag_value) VALUES (?, ?, ?, ?, 7)",
                     (tag_key, keep["partition_key"], keep["study_key"], keep["watermark"]))
        for row in (inst, keep):
            conn.execute("INSERT INTO extended_query_tag_errors (tag_key, partition_key, "
                         "watermark, study_instance_uid, series_instance_uid, sop_instance_uid, "
                         "error_message, created_time) VALUES (?, ?, ?, 'a', 'b', 'c', 'x', ?)",
                         (tag_key, row["partition_key"], row["watermark"],
                          "2024-01-01T00:00:00+00:00"))

    assert client.delete(f"/studies/{ds.StudyInstanceUID}").status_code == 204
    assert count(app, "extended_query_tag_string") == 0
    assert count(app, "extended_query_tag_long") == 1
    assert rows(app, "SELECT watermark FROM extended_query_tag_errors") == \
        [{"watermark": keep["watermark"]}]
    assert rows(app, "SELECT error_count FROM extended_query_tags") == [{"error_count": 1}]


def test_delete_study_runs_the_same_statements_whatever_its_size(make_app, monkeypatch):
    """Set-based: deleting 40 instances issues no more SQL than deleting 2 (no per-row loop)."""
    from app.db import DbConn

    app = make_app()
    client = app.test_client()
    small, large = uid(), uid()
    assert store(client, "", *[make_dataset(small, pixels=False) for _ in range(2)]
                 ).status_code == 200
    assert store(client, "", *[make_dataset(large, pixels=False) for _ in range(40)]
                 ).status_code == 200  # 40 instances in 40 series
    calls: list[str] = []
    original = DbConn.run

    def counting_run(self, name, **params):
        calls.append(name)
        return original(self, name, **params)

    monkeypatch.setattr(DbConn, "run", counting_run)
    counts = []
    for study in (small, large):
        calls.clear()
        assert client.delete(f"/studies/{study}").status_code == 204
        counts.append(len(calls))
    assert counts[0] == counts[1]
    assert count(app, "instances") == 0 and files(app) == set()

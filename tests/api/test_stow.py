"""STOW-RS through HTTP: responses and storage semantics (issue #3, reference.md §3): what is
stored and answered for single and multipart requests, duplicates, partitions, batches and
large instances. Request forms and refused requests: test_stow_request_forms.py; stores racing
deletes on PostgreSQL: test_stow_concurrency.py."""
from __future__ import annotations

import hashlib
import json

import pytest

from app.services import extended_query_tags as extended_query_tags_service
from tests.api.helpers import DICOM_JSON, store, values
from tests.api.stow_support import (FAILED_ATTRIBUTES, RETRIEVE_URL, SOP_CLASS, SOP_INSTANCE,
                                    WARNING_REASON, blob_bytes, blob_keys, comments, count, failed,
                                    failure_reasons, referenced, rows, temp_files)
from tests.dicom_factory import CT_IMAGE_STORAGE, make_dataset, to_bytes, uid
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3


def _instance_url(host: str, prefix: str, base: str, ds) -> str:
    return (f"http://{host}{prefix}{base}/studies/{ds.StudyInstanceUID}/series/"
            f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")


def test_store_single_part_returns_200_with_referenced_sop(app, client, base):
    ds = make_dataset()
    response = client.post(f"/v2{base}/studies", data=to_bytes(ds),
                           headers={"Content-Type": "application/dicom",
                                    "Accept": DICOM_JSON})
    assert response.status_code == 200
    assert response.mimetype == DICOM_JSON
    body = response.json
    assert RETRIEVE_URL not in body and not failed(body)
    [item] = referenced(body)
    assert values(item, SOP_CLASS) == [CT_IMAGE_STORAGE]
    assert values(item, SOP_INSTANCE) == [ds.SOPInstanceUID]
    assert values(item, RETRIEVE_URL) == [_instance_url("localhost", "/v2", base, ds)]
    assert item[FAILED_ATTRIBUTES] == {"vr": "SQ", "Value": []}  # v2: always present
    assert WARNING_REASON not in item


def test_store_multipart_into_study_returns_study_retrieve_url(app, client, base):
    study = uid()
    datasets = [make_dataset(study_uid=study) for _ in range(3)]
    response = store(client, base, *datasets, prefix="/v1", study=study)
    assert response.status_code == 200
    body = response.json
    assert values(body, RETRIEVE_URL) == [f"http://localhost/v1{base}/studies/{study}"]
    items = referenced(body)
    assert [values(i, SOP_INSTANCE)[0] for i in items] == [d.SOPInstanceUID for d in datasets]
    assert all(FAILED_ATTRIBUTES not in i for i in items)  # v1: never in success items
    assert count(app, "instances") == 3 and count(app, "change_feed") == 3


def test_store_duplicate_instance_returns_409_with_45070(app, client, base):
    data = to_bytes(make_dataset())
    assert store(client, base, data).status_code == 200
    response = store(client, base, data)
    assert response.status_code == 409
    assert response.mimetype == DICOM_JSON
    assert failure_reasons(response.json) == [45070]
    assert not referenced(response.json)
    assert count(app, "instances") == 1


def test_store_same_file_twice_in_one_request_returns_202(make_app):
    app = make_app()
    data = to_bytes(make_dataset())
    response = store(app.test_client(), "", data, data)
    assert response.status_code == 202
    assert len(referenced(response.json)) == 1 and failure_reasons(response.json) == [45070]


def test_store_into_two_partitions_shares_one_blob(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    ds = make_dataset()
    data = to_bytes(ds)
    first = store(client, "/partitions/A", data)
    second = store(client, "/partitions/B", data)
    assert first.status_code == second.status_code == 200
    assert values(referenced(second.json)[0], RETRIEVE_URL) == [
        _instance_url("localhost", "", "/partitions/B", ds)]
    again = store(client, "/partitions/A", data)
    assert again.status_code == 409 and failure_reasons(again.json) == [45070]
    instances = rows(app, "SELECT partition_key, blob_key FROM instances ORDER BY partition_key")
    assert len({r["partition_key"] for r in instances}) == 2
    assert len({r["blob_key"] for r in instances}) == 1
    assert len(blob_keys(app)) == 1  # identical bytes take disk space once
    assert rows(app, "SELECT ref_count FROM blobs") == [{"ref_count": 2}]
    [blob] = blob_keys(app)
    assert blob == instances[0]["blob_key"] == hashlib.sha256(data).hexdigest()
    assert blob_bytes(app, blob) == data  # stored as sent, content-addressed by SHA-256
    assert temp_files(app) == []


def test_store_new_partition_created_only_with_first_stored_instance(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    bad = store(client, "/partitions/Typo", b"not dicom")
    assert bad.status_code == 409
    assert [p["partitionName"] for p in client.get("/partitions").json] == ["Microsoft.Default"]
    assert store(client, "/partitions/NewSite", make_dataset()).status_code == 200
    assert [p["partitionName"] for p in client.get("/partitions").json] == [
        "Microsoft.Default", "NewSite"]


def test_store_records_index_metadata_change_feed_and_extended_tags(make_app, monkeypatch):
    calls = []
    monkeypatch.setattr(extended_query_tags_service, "index_instance",
                        lambda conn, ds, keys, *_: calls.append((ds.SOPInstanceUID, keys)))
    app = make_app()
    ds = make_dataset(PatientName="Roe^Jane")
    assert store(app.test_client(), "", ds).status_code == 200
    [instance] = rows(app, "SELECT * FROM instances")
    assert instance["status"] == 1 and instance["sop_class_uid"] == CT_IMAGE_STORAGE
    [feed] = rows(app, "SELECT * FROM change_feed")
    assert feed["action"] == 0 and feed["current_watermark"] == instance["watermark"]
    [meta] = rows(app, "SELECT dataset FROM instance_metadata WHERE watermark = ?",
                  (instance["watermark"],))
    dataset = json.loads(meta["dataset"])
    assert dataset["00100010"]["Value"] == [{"Alphabetic": "Roe^Jane"}]
    assert dataset["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulkdata:7FE00010"}
    [(sop, keys)] = calls
    assert sop == ds.SOPInstanceUID and keys.watermark == instance["watermark"]
    assert keys.instance_key == instance["instance_key"]


def test_store_study_and_series_columns_latest_wins(make_app):
    app = make_app()
    client = app.test_client()
    study, series = uid(), uid()
    first = make_dataset(study_uid=study, series_uid=series, PatientName="Old^Name",
                         StudyDescription="first", Modality="CT", PatientID="P1")
    second = make_dataset(study_uid=study, series_uid=series, PatientName="New^Name",
                          StudyDescription=None, Modality="MR", PatientID="")
    assert store(client, "", first).status_code == 200
    assert store(client, "", second).status_code == 202  # v2: empty PatientID warns
    [row] = rows(app, "SELECT patient_name, study_description, patient_id FROM studies")
    assert row == {"patient_name": "New^Name", "study_description": "first",
                   "patient_id": "P1"}  # null keeps, empty PatientID keeps
    assert rows(app, "SELECT modality FROM series") == [{"modality": "MR"}]


def test_store_empty_multipart_returns_204(app, client, base):
    response = client.post(f"{base}/studies", data=b"--b--\r\n",
                           headers={"Content-Type": 'multipart/related; type="application/dicom"; '
                                                    "boundary=b"})
    assert response.status_code == 204
    assert response.data == b""


def test_store_partial_success_returns_202(make_app):
    app = make_app()
    study = uid()
    response = store(app.test_client(), "", make_dataset(study_uid=study), make_dataset(),
                     study=study)
    assert response.status_code == 202
    assert len(referenced(response.json)) == 1
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == [
        "DICOM100: (0020,000d) - The StudyInstanceUid in the payload does not match the "
        "specified StudyInstanceUid."]
    assert values(response.json, RETRIEVE_URL) == [f"http://localhost/studies/{study}"]


def test_store_single_part_without_accept_header_returns_200(app, client, base):
    response = client.post(f"{base}/studies", data=to_bytes(make_dataset()),
                           headers={"Content-Type": "application/dicom"})
    assert response.status_code == 200
    assert response.mimetype == DICOM_JSON


def test_store_large_non_pixel_element_is_bulk_data_in_metadata(make_app):
    app = make_app()
    ds = make_dataset()
    ds.add_new(0x60003000, "OW", b"\x01\x02" * 100_000)  # OverlayData, deferred when read
    assert store(app.test_client(), "", ds).status_code == 200
    [meta] = rows(app, "SELECT dataset FROM instance_metadata")
    assert json.loads(meta["dataset"])["60003000"] == {"vr": "OW",
                                                       "BulkDataURI": "bulkdata:60003000"}


def test_store_multipart_with_stored_duplicate_returns_202(make_app):
    app = make_app()
    client = app.test_client()
    a, b, c = (make_dataset() for _ in range(3))
    assert store(client, "", a).status_code == 200
    response = store(client, "", b, a, c)
    assert response.status_code == 202
    assert [values(i, SOP_INSTANCE)[0] for i in referenced(response.json)] == [
        b.SOPInstanceUID, c.SOPInstanceUID]
    assert failure_reasons(response.json) == [45070]
    assert count(app, "instances") == 3 and count(app, "change_feed") == 3


def test_store_multipart_batch_failure_falls_back_to_one_by_one(make_app, monkeypatch):
    from app.dao import instances as dao
    app = make_app()
    real, calls = dao.add_instance, []

    def flaky(conn, new, now):  # the batch's second row fails after its first was written
        calls.append(new.sop_instance_uid)
        if len(calls) == 2:
            raise dao.InstanceAlreadyExistsError()
        return real(conn, new, now)

    monkeypatch.setattr(dao, "add_instance", flaky)
    datasets = [make_dataset() for _ in range(3)]
    response = store(app.test_client(), "", *datasets)
    assert response.status_code == 200
    assert len(calls) == 2 + 3  # the batch, rolled back, then one transaction per instance
    assert count(app, "instances") == 3 and count(app, "change_feed") == 3
    assert count(app, "instance_metadata") == 3
    assert rows(app, "SELECT SUM(ref_count) AS n FROM blobs") == [{"n": 3}]


def test_store_multipart_several_batches_returns_each_outcome(make_app, monkeypatch):
    from app.services import store as store_service
    monkeypatch.setattr(store_service, "BATCH_SIZE", 2)
    app = make_app()
    datasets = [make_dataset() for _ in range(4)]
    parts = [to_bytes(d) for d in datasets]
    response = store(app.test_client(), "", *parts, b"junk", parts[0])
    assert response.status_code == 202
    assert [values(i, SOP_INSTANCE)[0] for i in referenced(response.json)] == [
        d.SOPInstanceUID for d in datasets]
    assert failure_reasons(response.json) == [43264, 45070]
    assert count(app, "instances") == 4 and len(blob_keys(app)) == 4


@pytest.mark.parametrize("header", ["short", "longer than the head"])
def test_store_large_instance_keeps_header_and_pixels(app, client, base, header):
    """A part larger than the head kept in memory (store.HEAD_SIZE), with its header inside the
    head or beyond it: both are read, stored and served whole."""
    comments_value = "x" * 60000 if header != "short" else "short"
    ds = make_dataset(rows=256, columns=256, ImageComments=comments_value)
    response = store(client, base, ds)
    assert response.status_code == 200, response.data
    url = (f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    metadata = client.get(f"{url}/metadata", headers={"Accept": DICOM_JSON}).json[0]
    assert values(metadata, "00204000") == [comments_value]
    assert "BulkDataURI" in metadata["7FE00010"]
    stored = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert stored.status_code == 200 and stored.data == to_bytes(ds)


def test_store_many_parts_in_one_request(app, client, base):
    """More parts than keep their head in memory (store.HEADS_PER_REQUEST): all are stored."""
    datasets = [make_dataset(study_uid="1.2.826.0.1.3680043.10.1.77") for _ in range(70)]
    response = store(client, base, *datasets)
    assert response.status_code == 200, response.data
    assert len(referenced(response.json)) == 70
    assert count(app, "instances") == 70


def test_store_batch_rejects_only_the_parts_already_stored(app, client, base):
    """The parts of a multipart request are checked against the index together: a stored
    instance fails with 45070; the same SOP Instance UID in another series is a new instance."""
    stored = make_dataset()
    assert store(client, base, stored).status_code == 200
    same_sop_elsewhere = make_dataset(study_uid=stored.StudyInstanceUID,
                                      sop_uid=stored.SOPInstanceUID)
    new = make_dataset()
    response = store(client, base, stored, same_sop_elsewhere, new)
    assert response.status_code == 202, response.data
    assert failure_reasons(response.json) == [45070]
    assert failed(response.json)[0][SOP_INSTANCE]["Value"] == [stored.SOPInstanceUID]
    assert [item[SOP_INSTANCE]["Value"][0] for item in referenced(response.json)] == [
        same_sop_elsewhere.SOPInstanceUID, new.SOPInstanceUID]
    assert count(app, "instances") == 3


def test_stored_bytes_are_exact_with_fsync_on(make_app, partition_mode, base):
    """With fsync on (the default; the other tests turn it off for speed), spooled files are
    written with O_DIRECT through an aligned buffer: sizes that are not whole blocks, parts
    larger than the buffer, single and multipart bodies all come back byte for byte."""
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", FSYNC=True)
    client = app.test_client()
    datasets = [make_dataset(rows=rows, columns=columns)
                for rows, columns in ((4, 4), (700, 777), (1023, 517), (3, 5))]
    data = [to_bytes(ds) for ds in datasets]
    assert any(len(d) > (1 << 20) for d in data) and any(len(d) % 4096 for d in data)
    single = client.post(f"{base}/studies", data=data[0],
                         headers={"Content-Type": "application/dicom"})
    assert single.status_code == 200
    assert store(client, base, *data[1:]).status_code == 200
    for ds, sent in zip(datasets, data):
        response = client.get(
            f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}",
            headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.status_code == 200 and response.data == sent
    assert blob_keys(app) == sorted(
        hashlib.sha256(d).hexdigest() for d in data)
    assert temp_files(app) == []

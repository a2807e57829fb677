"""Export to the ``s3`` destination (issue #19) against a real SeaweedFS S3 server
(tests/s3_server.py): allowed buckets and endpoints, the reference's layout as objects, the
errors log joined at the end, and a resumed run that neither repeats nor loses anything."""
from __future__ import annotations

import json

import pytest

from app.services.operations import run_next_operation
from app.worker import new_owner, run_pending_once, settings_of
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes, uid


@pytest.fixture
def app(make_app, partition_mode, s3_server, s3_bucket):
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", ENABLE_EXPORT=True,
                    EXPORT_S3_BUCKETS=s3_bucket, EXPORT_S3_ENDPOINT_URLS=s3_server.endpoint_url,
                    EXPORT_S3_REGION=s3_server.region)


@pytest.fixture
def client(app, base):
    client = app.test_client()
    assert store(client, base, make_dataset()).status_code == 200  # creates the partition
    return client


def body(values, **settings):
    return {"source": {"type": "identifiers", "settings": {"values": values}},
            "destination": {"type": "s3", "settings": settings}}


def _objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    keys = [entry["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for entry in page.get("Contents", ())]
    return {key[len(prefix):]: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys}


def _seed(client, base):
    study, series = uid(), [uid(), uid()]
    datasets = [make_dataset(study, series[n % 2], rows=4 + n) for n in range(5)]
    assert store(client, base, *datasets).status_code == 200
    return study, series, {(ds.SeriesInstanceUID, ds.SOPInstanceUID): to_bytes(ds)
                           for ds in datasets}


def test_export_writes_the_reference_layout_into_the_bucket(app, client, base, s3_server,
                                                            s3_bucket):
    study, series, files = _seed(client, base)
    one = next(key for key in files if key[0] == series[1])
    missing = f"{study}/{uid()}"
    values = [f"{study}/{series[0]}", f"{study}/{one[0]}/{one[1]}", missing]
    response = client.post(f"{base}/export", json=body(values, bucket=s3_bucket,
                                                       prefix="/site-a/2026/"))
    assert response.status_code == 202, response.get_data(as_text=True)
    operation_id = response.json["id"]
    s3 = s3_server.client()
    prefix = f"site-a/2026/{operation_id}/"
    assert _objects(s3, s3_bucket, prefix) == {"errors.log": b""}  # created by the request

    assert run_pending_once(app) == 1
    operation = client.get(f"/operations/{operation_id}").json
    assert operation["status"] == "succeeded"
    assert operation["results"] == {"errorHref": f"s3://{s3_bucket}/{prefix}errors.log",
                                    "exported": 4, "skipped": 1}
    objects = _objects(s3, s3_bucket, prefix)
    errors = [json.loads(line) for line in objects.pop("errors.log").decode().splitlines()]
    assert [(e["identifier"], e["error"]) for e in errors] == [
        (missing, "The specified series cannot be found.")]
    assert objects == {f"results/{study}/{se}/{sop}.dcm": data
                       for (se, sop), data in files.items() if se == series[0] or (se, sop) == one}


def test_a_resumed_export_repeats_no_error_line(app, client, base, s3_server, s3_bucket):
    study, _, files = _seed(client, base)
    app.config["EXPORT_BATCH_SIZE"] = 1
    missing = [uid(), uid()]
    operation_id = client.post(f"{base}/export", json=body(
        [missing[0], study, missing[1]], bucket=s3_bucket)).json["id"]
    with app.extensions["dicom_db"].connection() as conn:
        for _ in range(3):  # one batch per run, each cut off before the next
            calls = iter([False, True])
            assert run_next_operation(conn, new_owner(), settings_of(app), lambda: next(calls))
    assert run_pending_once(app) == 1
    results = client.get(f"/operations/{operation_id}").json["results"]
    assert (results["exported"], results["skipped"]) == (5, 2)
    objects = _objects(s3_server.client(), s3_bucket, f"{operation_id}/")
    lines = objects.pop("errors.log").decode().splitlines()
    assert [json.loads(line)["identifier"] for line in lines] == missing  # in order, once each
    assert sorted(objects) == sorted(f"results/{study}/{se}/{sop}.dcm" for se, sop in files)


def test_s3_destinations_the_server_does_not_allow_are_refused(make_app, base, partition_mode,
                                                               s3_server, s3_bucket):
    partitioned = partition_mode == "partitioned"
    app = make_app(ENABLE_DATA_PARTITIONS=partitioned, ENABLE_EXPORT=True)
    client = app.test_client()
    store(client, base, make_dataset())

    def refused(settings, text):
        response = client.post(f"{base}/export", json=body(["1.2"], **settings))
        assert (response.status_code, response.get_data(as_text=True)) == (400, text)

    refused({"bucket": s3_bucket}, "The s3 export destination is not configured on this server "
                                   "(DICOM_EXPORT_S3_BUCKETS).")
    app.config.update(EXPORT_S3_BUCKETS=f"{s3_bucket}, other",
                      EXPORT_S3_ENDPOINT_URLS=s3_server.endpoint_url)
    refused({}, "The s3 export destination needs a bucket.")
    refused({"bucket": "someone-elses"},
            "The bucket 'someone-elses' is not an allowed export bucket.")
    refused({"bucket": s3_bucket, "endpointUrl": "http://169.254.169.254"},
            "The endpoint 'http://169.254.169.254' is not an allowed export endpoint.")
    refused({"bucket": s3_bucket, "prefix": "a/../b"},
            "The prefix 'a/../b' is not a valid object key prefix.")
    refused({"bucket": "other"}, "The bucket 'other' does not exist.")
    app.config.update(EXPORT_S3_ACCESS_KEY_ID=s3_server.access_key,
                      EXPORT_S3_SECRET_ACCESS_KEY="wrong-secret")
    refused({"bucket": s3_bucket}, f"Unable to authenticate for bucket '{s3_bucket}'.")
    app.config.update(EXPORT_S3_SECRET_ACCESS_KEY=s3_server.secret_key, EXPORT_S3_BUCKETS="*")
    response = client.post(f"{base}/export", json=body(
        ["1.2"], bucket=s3_bucket, endpointUrl=s3_server.endpoint_url + "/"))
    assert response.status_code == 202  # the configured credentials, any bucket, same endpoint


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_export_reads_files_from_an_s3_blob_store(make_app, s3_server, s3_bucket, tmp_path):
    """Blobs in S3 (the server's blob store), exported to a folder and to a bucket."""
    root = tmp_path / "exports"
    root.mkdir()
    app = make_app(ENABLE_EXPORT=True, EXPORT_ROOT=str(root), EXPORT_S3_BUCKETS=s3_bucket,
                   EXPORT_S3_ENDPOINT_URLS=s3_server.endpoint_url,
                   EXPORT_S3_REGION=s3_server.region)
    client = app.test_client()
    study, _, files = _seed(client, "")
    to_folder = client.post("/export", json={
        "source": {"type": "identifiers", "settings": {"values": [study]}},
        "destination": {"type": "filesystem", "settings": {"path": "from-s3"}}}).json["id"]
    to_bucket = client.post("/export", json=body([study], bucket=s3_bucket)).json["id"]
    assert run_pending_once(app) == 2
    expected = {f"results/{study}/{se}/{sop}.dcm": data for (se, sop), data in files.items()}
    folder = root / "from-s3" / to_folder
    assert {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in (folder / "results").rglob("*.dcm")} == expected
    objects = _objects(s3_server.client(), s3_bucket, f"{to_bucket}/")
    assert objects.pop("errors.log") == b""
    assert objects == expected

"""The S3 blob store's own behaviour (issue #17; the shared API tests run on it too, see
``with_s3``): frames by ranged GETs, a series streamed without a HEAD per object, and the
object store failing: a real SeaweedFS server of the test's own, killed and started again.
Every answer is 200 or 503 with a clear text, nothing acknowledged is lost, nothing is
half-indexed; startup with a missing bucket or refused credentials stops with a clear
message."""
from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from app import StartupError
from tests.api.helpers import store
from tests.api.stow_support import count
from tests.api.wado_helpers import instance_url, parts
from tests.blob_support import remove_behind_the_index
from tests.dicom_factory import make_dataset, to_bytes, uid
from tests.s3_server import SeaweedServer

UNAVAILABLE = "The object store is unavailable."


@pytest.fixture
def own_server(tmp_path, monkeypatch):
    """A SeaweedFS server this test may stop; the AWS variables point at it."""
    server = SeaweedServer(tmp_path / "seaweedfs").start()
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


@pytest.fixture
def app(make_app, partition_mode):
    """The app without the node's read cache: these tests are about the requests the store
    sends to the bucket (tests/api/test_s3_read_cache.py has the cache's)."""
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", S3_CACHE_MAX_MB=0)


def _blob_store_errors(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("dicomweb_backend_errors_total") and "blob_store" in line)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_object_store_down_answers_503_and_loses_nothing(make_app, own_server):
    bucket = own_server.new_bucket()
    app = make_app(**own_server.settings(bucket), S3_CACHE_MAX_MB=0)
    client = app.test_client()
    kept, refused = make_dataset(), make_dataset()
    assert store(client, "", kept).status_code == 200

    own_server.stop()
    errors_before = _blob_store_errors(client)
    response = store(client, "", refused)
    assert response.status_code == 503
    assert response.get_data(as_text=True) == UNAVAILABLE
    assert client.get(instance_url("", kept)).status_code == 503
    health = client.get("/health/check")
    assert health.status_code == 503
    blob_check = health.json["details"][0]
    assert blob_check["status"] == "Unhealthy" and bucket in blob_check["description"]
    assert count(app, "instances") == 1  # the refused instance has no row
    assert _blob_store_errors(client) >= errors_before + 2  # counted as the blob store's

    own_server.start()
    response = client.get(instance_url("", kept),
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200 and response.data == to_bytes(kept)
    assert client.get(instance_url("", refused)).status_code == 404
    assert store(client, "", refused).status_code == 200  # sent again: stored
    assert client.get("/health/check").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_startup_with_missing_bucket_or_wrong_credentials_fails_clearly(make_app, own_server,
                                                                        monkeypatch):
    with pytest.raises(StartupError) as info:
        make_app(**own_server.settings("no-such-bucket"))
    assert str(info.value) == ("Cannot use the S3 bucket no-such-bucket: The bucket "
                               "no-such-bucket does not exist")
    bucket = own_server.new_bucket()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StartupError) as info:
        make_app(**own_server.settings(bucket))
    assert str(info.value).startswith(f"Cannot use the S3 bucket {bucket}: ")
    assert "403" in str(info.value)
    own_server.stop()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", own_server.secret_key)
    with pytest.raises(StartupError, match="Could not connect"):
        make_app(**own_server.settings(bucket))


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_frame_is_read_with_ranged_gets_of_its_own_bytes(app, base):
    """A frame costs its own bytes and the head of the file, never a download of the file
    (issue #17): every GET the store sends is ranged, and they add up to far less than it."""
    ds = make_dataset(rows=256, columns=256, frames=16)  # 128 KiB frames, ~2 MiB
    client = app.test_client()
    assert store(client, base, ds).status_code == 200
    blobs = app.extensions["dicom_blobs"]
    ranges: list[str] = []
    real = blobs.client.get_object

    def get_object(**kwargs):
        ranges.append(kwargs.get("Range", "whole"))
        return real(**kwargs)

    blobs.client.get_object = get_object
    frame_size = 256 * 256 * 2
    response = client.get(f"{instance_url(base, ds)}/frames/12",
                          headers={"Accept": "application/octet-stream"})
    assert response.status_code == 200
    assert response.get_data() == ds.PixelData[11 * frame_size:12 * frame_size]
    assert ranges and "whole" not in ranges
    fetched = sum(int(b) - int(a) + 1 for a, b in
                  (r.removeprefix("bytes=").split("-") for r in ranges))
    assert fetched <= frame_size + 64 * 1024  # the frame and one head window
    ranges.clear()  # the next frame of the instance: its header is not read again
    response = client.get(f"{instance_url(base, ds)}/frames/3",
                          headers={"Accept": "application/octet-stream"})
    assert response.get_data() == ds.PixelData[2 * frame_size:3 * frame_size]
    assert len(ranges) == 1
    remove_behind_the_index(blobs, hashlib.sha256(to_bytes(ds)).hexdigest())
    response = client.get(f"{instance_url(base, ds)}/frames/3")
    assert response.status_code == 500  # a lost object, even with its layout known


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_series_with_an_object_lost_ends_the_body_early(app, base, caplog):
    """A study or series is streamed without a HEAD per object: an object missing behind the
    index's back ends the body where it was due (the server closes the connection) and is
    logged."""
    client = app.test_client()
    study, series = uid(), uid()
    first, second = (make_dataset(study_uid=study, series_uid=series) for _ in range(2))
    for ds in (first, second):
        assert store(client, base, ds).status_code == 200
    blobs = app.extensions["dicom_blobs"]
    lost = hashlib.sha256(to_bytes(second)).hexdigest()
    remove_behind_the_index(blobs, lost)
    response = client.get(f"{base}/studies/{study}/series/{series}", headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert response.status_code == 200
    with pytest.raises(FileNotFoundError):
        response.get_data()
    assert f"Cannot read blob {lost} while sending it" in caplog.text


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_retrieve_is_one_get_per_object_and_no_head(app, base):
    """A single instance is checked by its own GET, opened before the response starts (no
    HEAD first); a series is one GET per object (the next ones opened while one is sent) and
    arrives whole and in order."""
    client = app.test_client()
    study, series = uid(), uid()
    datasets = [make_dataset(study_uid=study, series_uid=series, InstanceNumber=n)
                for n in range(1, 7)]
    assert store(client, base, *datasets).status_code == 200
    calls: Counter[str] = Counter()
    app.extensions["dicom_blobs"].client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.update([model.name]))
    response = client.get(instance_url(base, datasets[0]),
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200 and response.data == to_bytes(datasets[0])
    assert calls == {"GetObject": 1}
    calls.clear()
    response = client.get(f"{base}/studies/{study}/series/{series}", headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert response.status_code == 200
    assert sorted(body for _, body in parts(response)) == sorted(map(to_bytes, datasets))
    assert calls == {"GetObject": len(datasets)}


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_store_is_one_put_per_new_object_and_no_head(app, base):
    """A new file is one PUT, one part or several: no HEAD after its row is locked (the row
    is held before the put instead, PostgreSQL)."""
    client = app.test_client()
    calls: Counter[str] = Counter()
    app.extensions["dicom_blobs"].client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.update([model.name]))
    assert store(client, base, make_dataset()).status_code == 200
    assert calls == {"PutObject": 1}
    calls.clear()
    study = uid()
    assert store(client, base, *[make_dataset(study) for _ in range(4)]).status_code == 200
    assert calls == {"PutObject": 4}
    assert count(app, "instances") == 5

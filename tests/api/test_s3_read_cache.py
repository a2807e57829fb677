"""The S3 store's node-local read cache (issue #17; decisions "S3 read cache"), through the
HTTP API on a real SeaweedFS bucket: a hit serves the stored bytes without a request to the
bucket (instance, series, frames, bulk data); the size bound holds; a deleted instance's copy
leaves this node at once and another node's at its next cache check; a copy cut short, grown,
too old or left half-written is never served, and bytes that do not hash to their key are
never cached."""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.api.helpers import store
from tests.api.wado_helpers import instance_url, parts
from tests.blob_support import corrupt
from tests.dicom_factory import make_dataset, to_bytes, uid

ANY_SYNTAX = {"Accept": "application/dicom; transfer-syntax=*"}
SERIES_ANY = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
OCTETS = {"Accept": "application/octet-stream"}


def _key(ds) -> str:
    return hashlib.sha256(to_bytes(ds)).hexdigest()


def _cache_dir(app) -> Path:
    return app.extensions["dicom_blobs"].cache.directory


def _cached(app, key: str) -> Path:
    return _cache_dir(app) / key[:2] / key


def _cached_files(app) -> list[Path]:
    return [path for path in _cache_dir(app).glob("??/*") if path.is_file()]


def _gets(app) -> Counter[str]:
    """Counts of the requests the app's store sends to the bucket from now on."""
    calls: Counter[str] = Counter()
    app.extensions["dicom_blobs"].client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.update([model.name]))
    return calls


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_read_fills_the_cache_and_a_hit_serves_the_bytes_without_a_request(
        make_app, partition_mode, base):
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                   S3_CACHE_WRITE_THROUGH=False)
    client = app.test_client()
    study, series = uid(), uid()
    datasets = [make_dataset(study_uid=study, series_uid=series, rows=128, columns=128,
                             frames=4, InstanceNumber=n) for n in range(1, 4)]
    assert store(client, base, *datasets).status_code == 200
    assert _cached_files(app) == []  # no write-through
    calls = _gets(app)
    series_url = f"{base}/studies/{study}/series/{series}"
    response = client.get(series_url, headers=SERIES_ANY)
    assert sorted(body for _, body in parts(response)) == sorted(map(to_bytes, datasets))
    assert calls == {"GetObject": 3}  # cold: one GET each, written through as it streamed
    assert sorted(path.name for path in _cached_files(app)) == sorted(map(_key, datasets))
    for path in _cached_files(app):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    calls.clear()
    response = client.get(series_url, headers=SERIES_ANY)
    assert sorted(body for _, body in parts(response)) == sorted(map(to_bytes, datasets))
    first = datasets[0]
    response = client.get(instance_url(base, first), headers=ANY_SYNTAX)
    assert response.status_code == 200 and response.data == to_bytes(first)
    frame_size = 128 * 128 * 2
    response = client.get(f"{instance_url(base, first)}/frames/3,1", headers={
        "Accept": 'multipart/related; type="application/octet-stream"'})
    assert [body for _, body in parts(response)] == [
        first.PixelData[2 * frame_size:3 * frame_size], first.PixelData[:frame_size]]
    response = client.get(f"{instance_url(base, first)}/bulkdata/7FE00010", headers=OCTETS)
    assert response.status_code == 200 and response.data == first.PixelData
    assert calls == {}  # every byte from the node's cache


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_frame_of_an_uncached_instance_caches_it_whole(make_app):
    app = make_app(S3_CACHE_WRITE_THROUGH=False)
    client = app.test_client()
    ds = make_dataset(rows=64, columns=64, frames=8)
    assert store(client, "", ds).status_code == 200
    calls = _gets(app)
    frame_size = 64 * 64 * 2
    response = client.get(f"{instance_url('', ds)}/frames/5", headers=OCTETS)
    assert response.data == ds.PixelData[4 * frame_size:5 * frame_size]
    assert calls == {"GetObject": 1} and _cached(app, _key(ds)).read_bytes() == to_bytes(ds)
    response = client.get(f"{instance_url('', ds)}/frames/8", headers=OCTETS)
    assert response.data == ds.PixelData[7 * frame_size:]
    assert calls == {"GetObject": 1}


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_stow_writes_through_and_the_size_bound_holds(make_app):
    app = make_app(S3_CACHE_MAX_MB=1)
    client = app.test_client()
    study = uid()
    datasets = [make_dataset(study_uid=study, rows=256, columns=256) for _ in range(10)]
    for ds in datasets:  # 128 KiB each: 1.25 MiB in all, over the 1 MiB bound
        assert store(client, "", ds).status_code == 200
        assert _cached(app, _key(ds)).exists()  # written through
        assert sum(path.stat().st_size for path in _cached_files(app)) <= 1.1 * 2 ** 20
    assert not _cached(app, _key(datasets[0])).exists()  # the least recently used went
    calls = _gets(app)
    for ds in datasets[-3:]:  # the newest are cached
        assert client.get(instance_url("", ds), headers=ANY_SYNTAX).data == to_bytes(ds)
    assert calls == {}
    response = client.get(f"/studies/{study}", headers=SERIES_ANY)
    assert sorted(body for _, body in parts(response)) == sorted(map(to_bytes, datasets))
    assert calls["GetObject"] >= 1  # the evicted ones from the bucket
    assert sum(path.stat().st_size for path in _cached_files(app)) <= 1.1 * 2 ** 20


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_copy_cut_short_grown_or_too_old_is_never_served(make_app):
    app = make_app(S3_CACHE_MAX_AGE_SECONDS=3600)
    client = app.test_client()
    ds = make_dataset(rows=64, columns=64)
    data, key = to_bytes(ds), _key(ds)
    assert store(client, "", ds).status_code == 200
    cached = _cached(app, key)
    for damaged in (data[:1000], data + b"\0" * 10, data):
        cached.write_bytes(damaged)
        if damaged == data:  # whole, but filled more than the maximum age ago
            os.utime(cached, (time.time(), time.time() - 7200))
        for suffix, headers in (("", ANY_SYNTAX), ("/frames/1", OCTETS)):
            calls = _gets(app)
            response = client.get(instance_url("", ds) + suffix, headers=headers)
            assert response.status_code == 200
            assert response.data == (data if not suffix else ds.PixelData)
            assert calls == {"GetObject": 1}  # from the bucket, and cached again
            assert cached.read_bytes() == data
            assert time.time() - cached.stat().st_mtime < 60
            cached.write_bytes(damaged)
            if damaged == data:
                os.utime(cached, (time.time(), time.time() - 7200))


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_bytes_that_do_not_hash_to_the_key_are_never_cached(make_app):
    app = make_app(S3_CACHE_WRITE_THROUGH=False)
    client = app.test_client()
    ds = make_dataset(rows=64, columns=64)
    assert store(client, "", ds).status_code == 200
    key = _key(ds)
    wrong = bytearray(to_bytes(ds))
    wrong[-1] ^= 0xFF  # the same size, one bit flipped in the bucket
    corrupt(app.extensions["dicom_blobs"], key, bytes(wrong))
    leftover = _cache_dir(app) / ".tmp" / "fill-0123456789abcdef"
    leftover.write_bytes(to_bytes(ds))  # a fill a crash left: never a cache entry
    for suffix, headers in (("", ANY_SYNTAX), ("/frames/1", OCTETS)):
        client.get(instance_url("", ds) + suffix, headers=headers).get_data()
        assert not _cached(app, key).exists()
    assert list((_cache_dir(app) / ".tmp").iterdir()) == [leftover]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_deleted_instances_leave_this_nodes_cache_at_once_and_the_other_nodes_at_its_check(
        make_app, tmp_path, s3_server, s3_prefix):
    """Two nodes on one database and bucket, each with its own cache: what A deletes is gone
    from A's cache with the delete, and from B's at B's next cache check; B answers 404 at
    once (the index decides)."""
    bucket = s3_server.settings(s3_server.shared_bucket, s3_prefix)
    node_a = make_app(**bucket, DATA_DIR=str(tmp_path / "a"))
    node_b = make_app(**bucket, DATA_DIR=str(tmp_path / "b"), S3_CACHE_CHECK_SECONDS=0.2)
    a, b = node_a.test_client(), node_b.test_client()
    assert _cache_dir(node_a) != _cache_dir(node_b)
    study = uid()
    gone, kept = (make_dataset(study_uid=study, series_uid=uid()) for _ in range(2))
    assert store(a, "", gone, kept).status_code == 200
    for ds in (gone, kept):
        assert b.get(instance_url("", ds), headers=ANY_SYNTAX).data == to_bytes(ds)
        assert _cached(node_a, _key(ds)).exists() and _cached(node_b, _key(ds)).exists()
    assert a.delete(f"/studies/{study}/series/{gone.SeriesInstanceUID}").status_code == 204
    assert not _cached(node_a, _key(gone)).exists()
    assert b.get(instance_url("", gone), headers=ANY_SYNTAX).status_code == 404
    deadline = time.monotonic() + 10
    while _cached(node_b, _key(gone)).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _cached(node_b, _key(gone)).exists()
    assert _cached(node_b, _key(kept)).exists()  # still referenced: kept
    assert b.get(instance_url("", kept), headers=ANY_SYNTAX).data == to_bytes(kept)


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_the_cache_directory_removed_while_serving_is_filled_again(make_app):
    app = make_app()
    client = app.test_client()
    ds = make_dataset(rows=64, columns=64)
    assert store(client, "", ds).status_code == 200
    shutil.rmtree(_cache_dir(app))
    response = client.get(instance_url("", ds), headers=ANY_SYNTAX)
    assert response.status_code == 200 and response.data == to_bytes(ds)
    assert _cached(app, _key(ds)).read_bytes() == to_bytes(ds)
    shutil.rmtree(_cache_dir(app))
    response = client.get(f"{instance_url('', ds)}/frames/1", headers=OCTETS)
    assert response.status_code == 200 and response.data == ds.PixelData
    assert _cached(app, _key(ds)).read_bytes() == to_bytes(ds)

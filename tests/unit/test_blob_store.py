"""The BlobStore interface (app/blobs/base.py) on both backends: the file system and S3 (a real
SeaweedFS server, tests/s3_server.py). Same answers from both, byte for byte."""
from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from app.blobs import BlobStore, FileSystemBlobStore
from app.blobs.s3 import S3BlobStore
from app.errors import ObjectStoreError
from tests.blob_support import backdate, corrupt

MIB = 1 << 20


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FileSystemBlobStore(tmp_path / "blobs", fsync=False)
    return _s3_store(request, tmp_path)


def _s3_store(request: pytest.FixtureRequest, tmp_path: Path, **kwargs) -> S3BlobStore:
    """A store in the server's shared bucket under a fresh prefix (or ``prefix``)."""
    server = request.getfixturevalue("s3_server")
    kwargs.setdefault("prefix", request.getfixturevalue("s3_prefix"))
    return S3BlobStore(server.shared_bucket, tmp_path / "spool",
                       endpoint_url=server.endpoint_url, region=server.region, **kwargs)


def _payload(size: int, seed: str = "x") -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // 32 + 1))[:size]


def test_put_open_read_back_byte_for_byte(store):
    data = _payload(300_000)
    key = store.put_bytes(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert store.exists(key) and store.size(key) == len(data)
    with store.open(key) as handle:
        assert handle.read() == data
    assert store.content_key(key) == key
    assert list(store.keys()) == [key]


@pytest.mark.parametrize("size", [0, 1, 4095, 4097, MIB + 1, 3 * MIB + 12345])
def test_spooled_bytes_of_any_size_are_stored_exactly(store, size):
    data = _payload(size, str(size))
    with store.spool(1000) as spool:
        for start in range(0, size, 300_001):
            spool.write(data[start:start + 300_001])
        spool.finish()
        assert bytes(spool.head) == data[:1000]
        assert store.put(spool) is True
        key = spool.key
    with store.open(key) as handle:
        assert handle.read() == data
    assert store.size(key) == size
    assert list(store.tmp.iterdir()) == []  # the spool is gone, the blob stays


def test_put_of_present_bytes_is_false_and_refreshes_the_age(store):
    data = _payload(1000)
    key = store.put_bytes(data)
    backdate(store, key, 7200)
    assert store.age(key) >= 7199
    with store.spool() as spool:
        spool.write(data)
        spool.finish()
        assert store.put(spool) is False  # stored once
    assert store.age(key) < 60  # young again: the sweep's age margin covers the new row


def test_open_range_and_seekable_read_only_the_bytes_asked(store):
    data = _payload(200_000, "range")
    key = store.put_bytes(data)
    with store.open_range(key, 1000, 5000) as handle:
        assert handle.read(5000) == data[1000:6000]
    with store.open_seekable(key) as handle:
        handle.seek(150_000)
        assert handle.read(10) == data[150_000:150_010]
        handle.seek(10)
        assert handle.read(70_000) == data[10:70_010]
        handle.seek(-5, 2)
        assert handle.read() == data[-5:]


def test_missing_blob_is_file_not_found(store):
    key = "0" * 64
    assert not store.exists(key)
    for call in (lambda: store.open(key), lambda: store.size(key), lambda: store.age(key),
                 lambda: store.open_range(key, 0, 10)):
        with pytest.raises(FileNotFoundError):
            call()
    store.delete(key)  # nothing happens
    assert store.quarantine(key) is False
    assert store.restore_quarantined(key) is False


def test_delete_removes_the_blob(store):
    key = store.put_bytes(b"to delete")
    store.delete(key)
    assert not store.exists(key)
    assert list(store.keys()) == []


def test_quarantine_restore_and_purge(store):
    kept, purged = store.put_bytes(b"kept"), store.put_bytes(b"purged")
    backdate(store, kept, 7200)
    assert store.quarantine(kept) and store.quarantine(purged)
    assert not store.exists(kept) and sorted(store.keys()) == []
    ages = dict(store.quarantined())
    assert sorted(ages) == sorted([kept, purged])
    assert all(age < 60 for age in ages.values())  # the quarantine's clock starts now
    backdate(store, purged, 5000, quarantined=True)
    assert dict(store.quarantined())[purged] >= 4999
    store.purge_quarantined(purged)
    assert store.restore_quarantined(kept) is True
    assert list(store.quarantined()) == []
    with store.open(kept) as handle:
        assert handle.read() == b"kept"
    assert not store.exists(purged)


def test_identity_is_written_once(store):
    assert store.identity() is None
    assert store.set_identity("first") == "first"
    assert store.set_identity("second") == "first"  # a second server starting keeps it
    assert store.identity() == "first"


def test_check_passes_on_a_working_store(store):
    store.check()


def test_content_key_sees_changed_bytes(store):
    key = store.put_bytes(b"original")
    corrupt(store, key, b"rotten")
    assert store.content_key(key) == hashlib.sha256(b"rotten").hexdigest()


def test_remove_stale_temporary_removes_old_spools_only(store):
    old = store.spool()
    old.write(b"abandoned")
    old.finish()
    stamp = time.time() - 7200
    import os
    os.utime(old.name, (stamp, stamp))
    young = store.spool()
    young.write(b"in use")
    young.finish()
    try:
        assert store.remove_stale_temporary(3600) == 1
        assert not Path(old.name).exists() and Path(young.name).exists()
    finally:
        young.discard()


def test_s3_large_part_is_a_multipart_upload(request, tmp_path):
    store = _s3_store(request, tmp_path, multipart_threshold=5 * MIB, multipart_chunk=5 * MIB)
    data = _payload(11 * MIB + 17, "large")
    key = store.put_bytes(data)
    head = store.client.head_object(Bucket=store.bucket, Key=store._object(key))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    with store.open(key) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == key
    assert store.age(key) < 60


def test_s3_stale_multipart_upload_is_aborted(request, tmp_path):
    store = _s3_store(request, tmp_path)
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=store._object("a" * 64))
    assert store.remove_stale_temporary(3600) == 0  # young: perhaps still uploading
    assert store.remove_stale_temporary(0) == 1
    assert not store.client.list_multipart_uploads(Bucket=store.bucket,
                                                   Prefix=store.prefix).get("Uploads")
    del upload


def test_s3_prefix_keeps_every_object_under_it(request, tmp_path):
    server = request.getfixturevalue("s3_server")
    store = S3BlobStore(request.getfixturevalue("s3_bucket"), tmp_path / "spool",
                        prefix="site/dicom/", endpoint_url=server.endpoint_url,
                        region=server.region)
    key = store.put_bytes(b"prefixed")
    store.set_identity("id")
    store.quarantine(store.put_bytes(b"swept"))
    names = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket)["Contents"]]
    assert names and all(name.startswith("site/dicom/") for name in names)
    assert list(store.keys()) == [key]


def test_s3_missing_bucket_and_wrong_credentials_raise_object_store_error(request, tmp_path):
    server = request.getfixturevalue("s3_server")
    missing = S3BlobStore("no-such-bucket-here", tmp_path / "a", endpoint_url=server.endpoint_url,
                          region=server.region)
    with pytest.raises(ObjectStoreError, match="does not exist"):
        missing.check_bucket()
    wrong = S3BlobStore(server.shared_bucket, tmp_path / "b",
                        endpoint_url=server.endpoint_url, region=server.region,
                        credentials={"aws_access_key_id": server.access_key,
                                     "aws_secret_access_key": "wrong"})
    with pytest.raises(ObjectStoreError, match="403"):
        wrong.check_bucket()
    with pytest.raises(ObjectStoreError):
        wrong.put_bytes(b"refused")
    with pytest.raises(ObjectStoreError):
        wrong.check()


def test_s3_unreachable_endpoint_raises_object_store_error(tmp_path):
    from tests.s3_server import free_ports

    store = S3BlobStore("bucket", tmp_path, endpoint_url=f"http://127.0.0.1:{free_ports(1)[0]}",
                        region="us-east-1",
                        credentials={"aws_access_key_id": "a", "aws_secret_access_key": "b"})
    with pytest.raises(ObjectStoreError, match="bucket"):
        store.exists("0" * 64)


def test_s3_put_is_checked_by_the_store_against_its_key(request, tmp_path):
    """A PUT carries the blob key as its signed x-amz-checksum-sha256 instead of botocore's own
    payload hash; the store refuses a body that does not match it."""
    store = _s3_store(request, tmp_path)
    sent: list[dict[str, str]] = []
    store.client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v
                                          for k, v in request.headers.items()}))
    small, large = _payload(1000, "small"), _payload(3 * MIB, "large")
    keys = [store.put_bytes(small), store.put_bytes(large)]
    for key, headers in zip(keys, sent):
        assert headers["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(key)).decode()
        assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    for key, data in zip(keys, (small, large)):
        with store.open(key) as handle:
            assert handle.read() == data
    with pytest.raises(ClientError, match="BadDigest"):
        store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}other", Body=b"abd",
                                ChecksumSHA256=base64.b64encode(hashlib.sha256(b"abc")
                                                                .digest()).decode())


@pytest.mark.parametrize("text", [
    "Sun, 06 Dec 2026 10:14:32 GMT", "Sun, 06 Dec 2026 10:14:32 +0100", "2026-12-06T10:14:32Z",
    "2026-12-06T10:14:32.000Z", "2026-12-06T10:14:32.123+02:00", "1733480000", "Sunday"])
def test_s3_timestamps_parse_as_botocore_parses_them(text):
    """The store's own timestamp parser (the standard library's for the two forms S3 sends)
    gives what botocore's gives, or botocore's error."""
    from botocore.utils import parse_timestamp

    from app.blobs.s3 import _parse_timestamp
    try:
        expected = parse_timestamp(text)
    except ValueError:
        with pytest.raises(ValueError):
            _parse_timestamp(text)
        return
    assert _parse_timestamp(text) == expected

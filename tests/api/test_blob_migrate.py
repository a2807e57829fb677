"""``flask --app wsgi blobs migrate`` (issue #17): a file-system blob store copied into the
configured one, every object hashed after the copy, resumable, the store identity last; the
server then serves every instance from the target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from app.blobs import BlobStore, FileSystemBlobStore
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes


@dataclass
class Target:
    """The store copied into: its server settings, a handle on it, and a way to spoil an
    object (replace its bytes)."""

    settings: dict[str, Any]
    store: BlobStore
    replace: Callable[[str, bytes], None]


@pytest.fixture(params=["filesystem", "s3"])
def target(request: pytest.FixtureRequest, tmp_path) -> Target:
    """The bucket of a real SeaweedFS server (under a fresh prefix), or another directory."""
    if request.param == "filesystem":
        directory = FileSystemBlobStore(tmp_path / "target")
        return Target({"BLOB_STORE_PATH": str(directory.root)}, directory,
                      lambda key, data: directory.path(key).write_bytes(data))
    from app.blobs.s3 import S3BlobStore

    server = request.getfixturevalue("s3_server")
    prefix = request.getfixturevalue("s3_prefix")
    bucket = server.shared_bucket
    client = server.client()
    bucket_store = S3BlobStore(bucket, tmp_path / "spool", prefix, server.endpoint_url,
                               server.region, credentials={
                                   "aws_access_key_id": server.access_key,
                                   "aws_secret_access_key": server.secret_key})
    return Target(server.settings(bucket, prefix), bucket_store,
                  lambda key, data: client.put_object(Bucket=bucket, Key=f"{prefix}blobs/{key}",
                                                      Body=data))


def _instance_url(ds) -> str:
    return (f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}")


def _migrate(app, *args: str):
    result = app.test_cli_runner().invoke(args=["blobs", "migrate", *args])
    return result.exit_code, result.output


def test_migrate_copies_verifies_resumes_and_the_server_reads_the_target(make_app, target):
    source_app = make_app()
    client = source_app.test_client()
    datasets = [make_dataset(rows=16, columns=16 + n) for n in range(4)]
    assert store(client, "", *datasets).status_code == 200
    source = source_app.extensions["dicom_blobs"]
    keys = sorted(source.keys())
    assert len(keys) == 4

    target_app = make_app(**target.settings)
    status, output = _migrate(target_app, "--source", str(source.root))
    assert status == 0, output
    assert "4 copied" in output and "0 failed" in output and "Store identity" in output
    assert sorted(target.store.keys()) == keys
    assert all(target.store.content_key(key) == key for key in keys)
    assert target.store.identity() == source.identity()
    target_client = target_app.test_client()
    for ds in datasets:
        response = target_client.get(_instance_url(ds),
                                     headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.status_code == 200 and response.data == to_bytes(ds)

    # Again: nothing to copy. Then: one object missing, one wrong (a copy a crash or a person
    # spoiled), one new file in the source (stored meanwhile), the journal gone.
    status, output = _migrate(target_app, "--source", str(source.root))
    assert status == 0 and "0 copied" in output and "4 already in the target" in output
    target.store.delete(keys[0])
    target.replace(keys[1], b"not the bytes")
    assert store(client, "", make_dataset()).status_code == 200
    for journal in source.root.glob(".migrated-*"):
        journal.unlink()
    status, output = _migrate(target_app, "--source", str(source.root))
    assert status == 0, output
    assert "3 copied" in output and "2 already in the target" in output
    assert all(target.store.content_key(key) == key for key in source.keys())


def test_migrate_reports_a_damaged_source_file_and_fails(make_app, target):
    source_app = make_app()
    assert store(source_app.test_client(), "", make_dataset(), make_dataset()).status_code == 200
    source = source_app.extensions["dicom_blobs"]
    damaged, good = sorted(source.keys())
    source.path(damaged).write_bytes(b"changed on disk")
    status, output = _migrate(make_app(**target.settings), "--source", str(source.root))
    assert status == 1
    assert f"damaged (bytes do not hash to the name; not copied): {damaged}" in output
    assert sorted(target.store.keys()) == [good]


def test_migrate_refuses_the_source_itself_and_a_source_of_another_store(make_app, target,
                                                                          tmp_path):
    source_app = make_app()
    status, output = _migrate(source_app)
    assert status == 2 and "The configured blob store is the source" in output
    other = FileSystemBlobStore(tmp_path / "other")
    other.set_identity("another-archive")
    other.put_bytes(b"a file of another archive")
    status, output = _migrate(make_app(**target.settings), "--source", str(other.root))
    assert status == 1 and "not one archive" in output
    assert list(target.store.keys()) == []


def test_migrate_copies_an_empty_store(make_app, target):
    source_app = make_app()
    status, output = _migrate(make_app(**target.settings),
                              "--source", str(source_app.extensions["dicom_blobs"].root))
    assert status == 0 and "0 files" in output and "Store identity" in output
    assert list(target.store.keys()) == []
    assert target.store.identity() == source_app.extensions["dicom_blobs"].identity()

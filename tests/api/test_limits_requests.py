"""Requests that could exhaust the server (issue #15 items 7, 8, 10): frame lists, request size,
part counts, per-part logging, deep nesting, and health with the disk full."""
from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from pathlib import Path

import psycopg2
import pytest

from tests.api.helpers import store
from tests.api.wado_helpers import instance_url, parts
from tests.dicom_factory import make_dataset, multipart, to_bytes

FRAMES_ACCEPT = {"Accept": "multipart/related; type=\"application/octet-stream\"; "
                           "transfer-syntax=*"}


def _app(make_app, partition_mode, **settings):
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", **settings)


def _assert_nothing_stored(client, base: str) -> None:
    """No study; partitioned, not even the partition (the first store creates it)."""
    response = client.get(f"{base}/studies")
    assert response.status_code == (400 if base else 204), response.get_data()


def test_frames_are_streamed_and_duplicates_refused(client, base):
    ds = make_dataset(rows=64, columns=64, frames=4)
    store(client, base, ds)
    url = instance_url(base, ds)
    response = client.get(f"{url}/frames/3,1", headers=FRAMES_ACCEPT)
    assert response.status_code == 200 and response.is_streamed  # not built in memory
    frame_size = 64 * 64 * 2
    assert [len(body) for _, body in parts(response)] == [frame_size, frame_size]
    assert parts(response)[1][1] == bytes(ds.PixelData[:frame_size])
    response = client.get(f"{url}/frames/" + ",".join(["1"] * 300), headers=FRAMES_ACCEPT)
    assert (response.status_code, response.get_data()) == (
        400, b"The specified frames value is not valid. Each frame may be requested only once.")
    response = client.get(f"{url}/frames/2,5", headers=FRAMES_ACCEPT)
    assert response.status_code == 404  # the reference's check still comes first for a frame


def test_frame_list_is_capped(make_app, partition_mode, base):
    client = _app(make_app, partition_mode, MAX_FRAMES_PER_REQUEST=3).test_client()
    ds = make_dataset(frames=4)
    store(client, base, ds)
    url = instance_url(base, ds)
    assert client.get(f"{url}/frames/1,2,3", headers=FRAMES_ACCEPT).status_code == 200
    response = client.get(f"{url}/frames/1,2,3,4", headers=FRAMES_ACCEPT)
    assert response.status_code == 400
    assert b"At most 3 frames may be requested at once" in response.get_data()


def test_request_larger_than_the_limit_is_413(make_app, partition_mode, base):
    client = _app(make_app, partition_mode, MAX_REQUEST_SIZE=2000).test_client()
    body, content_type = multipart([to_bytes(make_dataset()) for _ in range(4)])
    assert len(body) > 2000
    response = client.post(f"{base}/studies", data=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.get_data()) == (
        413, b"The request exceeded the allowed limit of 2000 bytes.")
    _assert_nothing_stored(client, base)


def test_more_parts_than_the_limit_is_413_and_nothing_is_left(make_app, partition_mode, base):
    app = _app(make_app, partition_mode, MAX_PARTS_PER_REQUEST=3)
    client = app.test_client()
    response = store(client, base, *[make_dataset() for _ in range(4)])
    assert (response.status_code, response.get_data()) == (
        413, b"The request exceeded the allowed limit of 3 parts.")
    _assert_nothing_stored(client, base)
    assert list(app.extensions["dicom_blobs"].tmp.iterdir()) == []  # no spool file left
    assert store(client, base, *[make_dataset() for _ in range(3)]).status_code == 200


def test_one_log_line_per_request_not_per_part(client, base, caplog):
    good = [make_dataset() for _ in range(20)]
    with caplog.at_level(logging.DEBUG):
        caplog.clear()
        response = store(client, base, *good, *[b"not dicom"] * 20)
    assert response.status_code == 202
    lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("app")]
    assert [r.getMessage() for r in lines] == [
        f"STOW of 40 parts into partition {'SiteA' if base else 'Microsoft.Default'}: "
        "20 stored, 20 failed, 20 x 43264"]


def _nested_sequences(depth: int) -> bytes:
    """Explicit VR little endian (0008,1140) sequences, each item holding the next one."""
    body = b""
    for _ in range(depth):
        body = (b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"
                + body + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    return body


def test_deep_nesting_fails_cleanly_without_a_traceback(client, base, caplog):
    data = to_bytes(make_dataset())
    at = data.index(b"\x10\x00\x10\x00PN")  # PatientName: the sequence goes before it
    data = data[:at] + _nested_sequences(600) + data[at:]
    with caplog.at_level(logging.INFO):
        caplog.clear()
        response = store(client, base, data)
    assert response.status_code == 409
    assert not [r for r in caplog.records if r.exc_info]
    assert sum(len(r.getMessage()) for r in caplog.records) < 2000


@pytest.fixture
def small_disk(tmp_path: Path):
    """An 8 MiB tmpfs (a real filesystem that fills up); skipped where mounting is refused."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, leave: int) -> None:
    """Write a file until only ``leave`` bytes are free (0: until the disk is full)."""
    with open(directory / "filler", "wb") as handle:
        while True:
            stats = os.statvfs(directory)
            room = stats.f_bavail * stats.f_frsize - leave
            if room <= 0:
                break
            try:
                handle.write(b"\0" * min(room, 1 << 20))
                handle.flush()
            except OSError:
                break


def _blob_status(client) -> tuple[int, str]:
    response = client.get("/health/check")
    blob = [d for d in response.json["details"] if d["name"] == "DicomBlobHealthCheck"][0]
    return response.status_code, blob["status"]


def test_health_reports_a_nearly_full_disk(make_app, partition_mode, small_disk):
    app = _app(make_app, partition_mode, BLOB_STORE_PATH=str(small_disk / "blobs"),
               HEALTH_MIN_FREE_BYTES=2 << 20)
    client = app.test_client()
    assert _blob_status(client) == (200, "Healthy")
    _fill(small_disk, leave=1 << 20)  # a probe file still fits, an instance of 2 MiB does not
    assert _blob_status(client) == (503, "Unhealthy")
    (small_disk / "filler").unlink()
    assert _blob_status(client) == (200, "Healthy")


def test_health_reports_a_full_disk(make_app, partition_mode, small_disk):
    app = _app(make_app, partition_mode, BLOB_STORE_PATH=str(small_disk / "blobs"),
               HEALTH_MIN_FREE_BYTES=0)
    client = app.test_client()
    _fill(small_disk, leave=0)
    assert _blob_status(client) == (503, "Unhealthy")


def _rename_table(backend: str, database_url: str, old: str, new: str) -> None:
    if backend == "sqlite":
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    else:
        conn = psycopg2.connect(database_url)
    try:
        conn.cursor().execute(f"ALTER TABLE {old} RENAME TO {new}")
        conn.commit()
    finally:
        conn.close()


def test_health_reports_a_database_that_cannot_answer(make_app, backend, database_url):
    """The index's tables gone from under the server (a damaged or the wrong database):
    ``SELECT 1`` would still answer."""
    client = make_app().test_client()
    assert client.get("/health/check").status_code == 200
    _rename_table(backend, database_url, "partitions", "partitions_gone")
    try:
        response = client.get("/health/check")
    finally:
        _rename_table(backend, database_url, "partitions_gone", "partitions")
    assert response.status_code == 503
    database = [d for d in response.json["details"] if d["name"] == "DatabaseHealthCheck"][0]
    assert database["status"] == "Unhealthy"
    assert client.get("/health/check").status_code == 200

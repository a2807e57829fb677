"""Decompression bombs (issue #15 item 6): the decoded size is checked before any codec runs.

A bomb is a tiny JPEG 2000 codestream whose SIZ header (and the DICOM header) declare a huge
image; the real codec would allocate gigabytes for it.
"""
from __future__ import annotations

import threading
import time

import pytest

from app.dicomweb.decode_limits import DecodeLimits, DecodersBusyError
from tests.api.helpers import store
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import forged_j2k_dataset

EXPLICIT = "1.2.840.10008.1.2.1"
LIMIT_TEXT = b"(DICOM_MAX_DECODED_SIZE)"


@pytest.mark.parametrize("rows, columns, frames", [(16000, 16000, 1), (65535, 65535, 1),
                                                   (16000, 16000, 50)])
def test_bomb_is_refused_before_decoding(client, base, rows, columns, frames):
    ds = forged_j2k_dataset(rows, columns, frames)
    assert store(client, base, ds).status_code == 200  # a 2 KB file stores fine
    url = instance_url(base, ds)
    started = time.monotonic()
    for path, accept in (
            ("/rendered", "image/jpeg"), ("/frames/1/rendered", "image/png"),
            ("", f"application/dicom; transfer-syntax={EXPLICIT}"),
            ("", f"multipart/related; type=\"application/dicom\"; transfer-syntax={EXPLICIT}"),
            ("/frames/1", f"multipart/related; type=\"application/octet-stream\"; "
                          f"transfer-syntax={EXPLICIT}")):
        response = client.get(url + path, headers={"Accept": accept})
        assert response.status_code == 406, (path, accept)
        assert LIMIT_TEXT in response.get_data(), (path, accept, response.get_data())
    assert time.monotonic() - started < 5
    # As stored, nothing is decoded: the bytes are served.
    for accept in ("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
                   "multipart/related; type=\"image/jp2\""):
        assert client.get(url + "/frames/1", headers={"Accept": accept}).status_code == 200
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200


def test_decoded_size_limit_is_a_setting(make_app, partition_mode, base):
    """A real 1024 x 1024 16-bit image (2 MiB decoded, 16 MiB to render) under a 4 MiB limit:
    transcoding one frame passes, the whole 3-frame instance and rendering do not."""
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                   MAX_DECODED_SIZE=4 << 20)
    client = app.test_client()
    ds = forged_j2k_dataset(1024, 1024, frames=3, encoded=(1024, 1024))
    assert store(client, base, ds).status_code == 200
    url = instance_url(base, ds)
    response = client.get(url + "/frames/2", headers={
        "Accept": f"multipart/related; type=\"application/octet-stream\"; "
                  f"transfer-syntax={EXPLICIT}"})
    assert response.status_code == 200 and len(response.get_data()) > 2 << 20
    response = client.get(url, headers={"Accept": f"application/dicom; transfer-syntax={EXPLICIT}"})
    assert response.status_code == 406
    assert b"(6291456 bytes)" in response.get_data() and b"limit of 4194304" in response.get_data()
    response = client.get(url + "/rendered")
    assert response.status_code == 406 and b"needs 8388608 bytes" in response.get_data()
    client = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                      MAX_DECODED_SIZE=32 << 20).test_client()
    assert client.get(url + "/rendered").status_code == 200


def test_decode_slots_bound_concurrent_decodes():
    """Decodes beyond DECODE_CONCURRENCY wait for a slot."""
    limits = DecodeLimits(1 << 20, 2)
    running, peak, lock = [0], [0], threading.Lock()

    def decode() -> None:
        with limits.slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=decode) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


def test_decode_slot_wait_is_bounded():
    limits = DecodeLimits(1 << 20, 1, wait_seconds=0.05)
    with limits.slot():
        with pytest.raises(DecodersBusyError):
            with limits.slot():
                pass

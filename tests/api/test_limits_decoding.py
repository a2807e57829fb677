"""Decompression bombs (issue #15 item 6): the decoded size is checked before any codec runs.

A bomb is a tiny JPEG 2000 codestream whose SIZ header (and the DICOM header) declare a huge
image; the real codec would allocate gigabytes for it.
"""
from __future__ import annotations

import struct
import threading
import time

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels.encoders import JPEG2000LosslessEncoder

from app.dicomweb.decode_limits import DecodeLimits, DecodersBusyError
from tests.api.helpers import store
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import make_dataset

J2K = "1.2.840.10008.1.2.4.90"
EXPLICIT = "1.2.840.10008.1.2.1"
LIMIT_TEXT = b"(DICOM_MAX_DECODED_SIZE)"


def _codestream(rows: int, columns: int, encode_rows: int, encode_columns: int) -> bytes:
    """A lossless 16-bit J2K codestream of a blank image, its SIZ forged to rows x columns."""
    data = JPEG2000LosslessEncoder.encode(
        np.zeros((encode_rows, encode_columns), dtype=np.uint16), rows=encode_rows,
        columns=encode_columns, samples_per_pixel=1, bits_allocated=16, bits_stored=16,
        pixel_representation=0, photometric_interpretation="MONOCHROME2",
        number_of_frames=1, planar_configuration=0)
    siz = data.index(b"\xff\x51")
    # SIZ: marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz
    return (data[:siz + 6] + struct.pack(">LLLLLL", columns, rows, 0, 0, columns, rows)
            + data[siz + 30:])


def _j2k_instance(rows: int, columns: int, frames: int = 1, encoded: tuple[int, int] = (64, 64)):
    ds = make_dataset(pixels=False)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    frame = _codestream(rows, columns, *encoded)
    ds.PixelData = encapsulate([frame] * frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = J2K
    return ds


@pytest.mark.parametrize("rows, columns, frames", [(16000, 16000, 1), (65535, 65535, 1),
                                                   (16000, 16000, 50)])
def test_bomb_is_refused_before_decoding(client, base, rows, columns, frames):
    ds = _j2k_instance(rows, columns, frames)
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
    ds = _j2k_instance(1024, 1024, frames=3, encoded=(1024, 1024))
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

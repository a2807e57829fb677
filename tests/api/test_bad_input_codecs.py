"""Pixel data a codec cannot read is bad input: a 406 with the reference's text and no
traceback in the log (decisions "Retrieve (WADO)"), for every route that decodes it."""
from __future__ import annotations

import logging
import struct

import pytest
from pydicom.encaps import encapsulate

from tests.api.helpers import store
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import make_dataset

TRANSCODING = b"The specified transcoding is not supported."
RENDERING = b"An error was encountered when attempting to convert the dicom file into an image"


def _garbage(transfer_syntax: str, fragment: bytes):
    ds = make_dataset(rows=16, columns=16, frames=2)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.PixelData = encapsulate([fragment, fragment])
    ds["PixelData"].VR = "OB"
    return ds


@pytest.mark.parametrize("transfer_syntax, fragment", [
    ("1.2.840.10008.1.2.4.90", b"\xff\x4f\xff\x51not a codestream"),  # JPEG 2000
    ("1.2.840.10008.1.2.5", struct.pack("<16I", 15, *([0xFFFFFF] * 15)) + b"\x00"),  # RLE
])
def test_undecodable_pixel_data_is_406_without_a_traceback(client, base, caplog,
                                                           transfer_syntax, fragment):
    ds = _garbage(transfer_syntax, fragment)
    assert store(client, base, ds).status_code == 200
    url = instance_url(base, ds)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for suffix, accept, text in [
            ("", "application/dicom; transfer-syntax=1.2.840.10008.1.2.1", TRANSCODING),
            ("/frames/1", 'multipart/related; type="application/octet-stream"', TRANSCODING),
            ("/rendered", "image/jpeg", RENDERING),
            ("/frames/2/rendered", "image/png", RENDERING),
        ]:
            response = client.get(url + suffix, headers={"Accept": accept})
            assert (response.status_code, response.get_data()) == (406, text), suffix
    with_traceback = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info]
    assert not with_traceback
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

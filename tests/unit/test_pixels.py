"""Transcoding and frames of pydicom's bundled files with the installed pixel handlers."""
from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from app.dicomweb import pixels

EXPLICIT = "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.90"
#: Bundled files that decode, one per source transfer syntax we claim (the transcoding table
#: in docs/api/wado.md).
SOURCES = {
    "MR_small_implicit.dcm": "1.2.840.10008.1.2",
    "image_dfl.dcm": "1.2.840.10008.1.2.1.99",
    "MR_small_bigendian.dcm": "1.2.840.10008.1.2.2",
    "SC_rgb_jpeg_lossy_gdcm.dcm": "1.2.840.10008.1.2.4.50",
    "JPGExtended.dcm": "1.2.840.10008.1.2.4.51",
    "SC_rgb_jpeg_gdcm.dcm": "1.2.840.10008.1.2.4.70",
    "MR_small_jpeg_ls_lossless.dcm": "1.2.840.10008.1.2.4.80",
    "JPEGLSNearLossless_08.dcm": "1.2.840.10008.1.2.4.81",
    "MR_small_jp2klossless.dcm": J2K,
    "JPEG2000.dcm": "1.2.840.10008.1.2.4.91",
    "MR_small_RLE.dcm": "1.2.840.10008.1.2.5",
}


def _path(name: str) -> str:
    return get_testdata_file(name, download=False)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_transcode_to_explicit_little_endian_keeps_pixels(name):
    with open(_path(name), "rb") as handle:
        original = dcmread(handle)
        assert original.file_meta.TransferSyntaxUID == SOURCES[name]
        out = io.BytesIO()
        pixels.transcode(handle, EXPLICIT, out)
    result = dcmread(io.BytesIO(out.getvalue()))
    assert result.file_meta.TransferSyntaxUID == EXPLICIT
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert np.array_equal(result.pixel_array, original.pixel_array)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"])
def test_transcode_to_jpeg_2000_is_lossless(name):
    with open(_path(name), "rb") as handle:
        original = dcmread(handle)
        out = io.BytesIO()
        pixels.transcode(handle, J2K, out)
    result = dcmread(io.BytesIO(out.getvalue()))
    assert result.file_meta.TransferSyntaxUID == J2K
    assert np.array_equal(result.pixel_array, original.pixel_array)


def test_transcode_unsupported_target_raises_406():
    with open(_path("CT_small.dcm"), "rb") as handle, pytest.raises(pixels.TranscodingError):
        pixels.transcode(handle, "1.2.840.10008.1.2.4.50", io.BytesIO())


@pytest.mark.parametrize("name", ["rtdose_rle.dcm", "examples_ybr_color.dcm", "rtdose.dcm",
                                  "image_dfl.dcm", "MR_small_bigendian.dcm"])
def test_frames_match_decoded_pixels(name):
    with open(_path(name), "rb") as handle:
        size = len(handle.read())
        original = dcmread(_path(name))
        layout = pixels.locate_pixel_data(handle, size)
        assert layout is not None
        frames = original.pixel_array if layout.number_of_frames > 1 else [original.pixel_array]
        assert layout.number_of_frames == len(frames)
        for index in {0, layout.number_of_frames - 1}:
            data = pixels.frame_as_explicit_little_endian(handle, layout, index)
            expected = np.asarray(frames[index])
            assert data == expected.astype(expected.dtype.newbyteorder("<")).tobytes()

"""WADO-RS rendered instances and frames (reference.md §4.5, decisions §5)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.api.helpers import store
from tests.api.wado_helpers import bundled_file, instance_url
from tests.dicom_factory import make_dataset


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.get_data()))


def test_retrieve_rendered_returns_jpeg_and_png(client, base):
    ds = make_dataset(rows=8, columns=8, frames=2, WindowCenter=30, WindowWidth=40)
    store(client, base, ds)
    url = instance_url(base, ds)
    response = client.get(f"{url}/rendered")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    assert _image(response).format == "JPEG" and _image(response).size == (8, 8)
    response = client.get(f"{url}/frames/2/rendered?quality=50",
                          headers={"Accept": "image/png"})
    assert response.headers["Content-Type"] == "image/png"
    pixels = np.asarray(_image(response))
    # frame 2 holds 64..127: the window 10..50 saturates it to white
    assert pixels.shape == (8, 8) and pixels.min() == 255
    response = client.get(f"{url}/frames/1/rendered", headers={"Accept": "image/png"})
    first = np.asarray(_image(response))
    assert first[0, 0] == 0 and first[-1, -1] == 255  # 0 is black, 63 is above the window


def test_retrieve_rendered_errors(client, base):
    ds = make_dataset()
    store(client, base, ds)
    url = instance_url(base, ds)
    for query in ("quality=0", "quality=101", "quality=abc", "quality=1_0", "quality=%D9%A1"):
        response = client.get(f"{url}/rendered?{query}")
        assert (response.status_code, response.get_data()) == (
            400, b"Image quality must be between 1 and 100 inclusive"), query
    response = client.get(f"{url}/rendered", headers={"Accept": "image/png, image/jpeg"})
    assert (response.status_code, response.get_data()) == (
        406, b"The request contains multiple accept headers, which is not supported.")
    response = client.get(f"{url}/rendered", headers={"Accept": "application/dicom"})
    assert (response.status_code, response.get_data()) == (
        406, b"The request headers are not acceptable")
    for frame, status in (("2", 404), ("0", 404), ("a", 400)):
        response = client.get(f"{url}/frames/{frame}/rendered")
        assert response.status_code == status, frame


def test_retrieve_rendered_color_and_compressed(make_app):
    client = make_app().test_client()
    cases = {"examples_ybr_color.dcm": ("RGB", (320, 240)),  # JPEG YBR_FULL_422, 30 frames
             "SC_rgb_rle_2frame.dcm": ("RGB", (100, 100)),
             "examples_palette.dcm": ("RGB", (800, 350)),
             "JPEG2000.dcm": ("L", (256, 1024)),
             "MR_small_bigendian.dcm": ("L", (64, 64))}
    for name, (mode, size) in cases.items():
        data, ds = bundled_file(name, fresh_uids=name.startswith("MR_small"))
        assert store(client, "", data).status_code in (200, 202), name
        response = client.get(instance_url("", ds) + "/rendered")
        assert response.status_code == 200, name
        image = _image(response)
        assert (image.mode, image.size) == (mode, size), name
    data, ds = bundled_file("examples_ybr_color.dcm")
    response = client.get(instance_url("", ds) + "/frames/30/rendered",
                          headers={"Accept": "image/png"})
    assert _image(response).mode == "RGB"


def test_retrieve_rendered_monochrome1_is_inverted(make_app):
    client = make_app().test_client()
    normal = make_dataset(rows=2, columns=2)
    inverted = make_dataset(rows=2, columns=2, PhotometricInterpretation="MONOCHROME1")
    store(client, "", normal, inverted)
    images = [np.asarray(_image(client.get(instance_url("", d) + "/rendered",
                                           headers={"Accept": "image/png"})))
              for d in (normal, inverted)]
    assert np.array_equal(images[0], 255 - images[1])

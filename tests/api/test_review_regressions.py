"""Regressions found by the pre-release correctness review."""
from __future__ import annotations

from tests.api.helpers import store
from tests.dicom_factory import make_dataset


def test_stow_number_of_frames_beyond_32_bits_stores_instance(make_app):
    # NumberOfFrames (IS, up to 12 characters) may exceed the 32-bit number_of_frames column:
    # PostgreSQL rejected the row (272 processing failure, 409) while SQLite stored it.
    client = make_app().test_client()
    ds = make_dataset(NumberOfFrames="999999999999")
    response = store(client, "", ds)
    assert response.status_code == 200, response.get_data(as_text=True)
    url = (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}")
    assert client.get(f"{url}/metadata").status_code == 200
    assert client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"}
                      ).status_code == 200

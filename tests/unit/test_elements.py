"""elements.convert_elements converts plain raw elements itself: the result must be what
ds[tag] gives."""
from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement

import app.dicomweb  # noqa: F401  (pydicom settings of the server)
from app.dicomweb.elements import convert_elements
from app.dicomweb.json_model import DEFER_SIZE

HERE = Path(__file__).resolve().parents[1]
FILES = sorted(
    [p for p in (Path(pydicom.__file__).parent / "data" / "test_files").rglob("*") if p.is_file()]
    + list((HERE / "data").glob("*.dcm")) + list(Path("/work/shared/data").glob("*.dcm")))


def _read(path: Path):
    return dcmread(path, stop_before_pixels=True, defer_size=DEFER_SIZE)


def _reference(ds) -> dict:
    elements = {}
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            continue
        elements[int(tag)] = ds[tag]
    return elements


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_elements_match_pydicom_item_access(path):
    try:
        expected_ds, actual_ds = _read(path), _read(path)
    except Exception:
        pytest.skip("not a file pydicom reads")
    try:
        expected = _reference(expected_ds)
    except Exception as exc:
        with pytest.raises(type(exc)):
            convert_elements(actual_ds)
        return
    actual = convert_elements(actual_ds)
    assert actual.keys() == expected.keys()
    for tag, elem in expected.items():
        assert actual[tag].VR == elem.VR, hex(tag)
        if elem.VR != "SQ":
            assert actual[tag].value == elem.value, hex(tag)
        assert actual_ds[tag] is actual[tag]  # stored back in the dataset

"""elements.convert_elements converts plain raw elements itself: the result must be what
ds[tag] gives. header_reader reads common headers itself: the result (and what the store
derives from it) must be what dcmread gives."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement

import app.dicomweb  # noqa: F401  (pydicom settings of the server)
from app.dicomweb import header_reader
from app.dicomweb.elements import convert_elements
from app.dicomweb.json_model import DEFER_SIZE, dumps, to_dicom_json
from app.services.instance_index import index_columns
from app.services.store import HEAD_SIZE
from tests.dicom_factory import make_dataset, to_bytes

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


# --- the one-pass header reader (header_reader.py) against dcmread -------------------------

def _dcmread_outcome(data: bytes):
    """(dataset, position) as dcmread leaves them, or the exception type it raises."""
    fp = io.BytesIO(data)
    try:
        return dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE), fp.tell()
    except Exception as exc:
        return type(exc)


def _assert_same_dataset(actual, actual_position, expected, expected_position):
    assert actual_position == expected_position
    assert list(actual._dict) == list(expected._dict)  # same elements, same order
    for tag, elem in expected._dict.items():
        assert type(actual._dict[tag]) is type(elem), hex(tag)
        assert actual._dict[tag] == elem, hex(tag)  # tag, VR, length, value, value_tell...
    for name in ("preamble", "original_encoding", "original_character_set", "_parent_encoding",
                 "filename", "fileobj_type", "timestamp"):
        assert getattr(actual, name) == getattr(expected, name), name
    assert list(actual.file_meta._dict) == list(expected.file_meta._dict)
    for tag, elem in expected.file_meta._dict.items():
        assert type(actual.file_meta._dict[tag]) is type(elem), hex(tag)
        assert actual.file_meta._dict[tag] == elem, hex(tag)
    assert actual.file_meta.original_encoding == expected.file_meta.original_encoding


def _derived(ds) -> tuple:
    """What the store makes of a read header: converted elements (and those that cannot be),
    index columns and DICOM JSON (or the exception type)."""
    undecodable: dict[int, str] = {}
    try:
        elements = convert_elements(ds, undecodable)
    except Exception as exc:
        return ("convert", type(exc))
    converted = {tag: (elem.VR, elem.value if elem.VR != "SQ" else len(elem.value or []))
                 for tag, elem in elements.items()}
    try:
        columns = index_columns(elements, set()) if _has_identifiers(elements) else None
    except Exception as exc:
        columns = ("index", type(exc))
    try:
        metadata = dumps(to_dicom_json(ds))
    except Exception as exc:
        metadata = ("json", type(exc))
    return converted, undecodable, columns, metadata


def _has_identifiers(elements) -> bool:
    return all(tag in elements for tag in (0x0020000D, 0x0020000E))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_header_reader_matches_dcmread(path):
    """Whatever file the one-pass reader takes, whole or cut short anywhere (a part's head, a
    truncated upload), it reads what dcmread reads, and the store derives the same elements,
    index columns and DICOM JSON from it; every other file is left to pydicom (None)."""
    data = path.read_bytes()
    cuts = [len(data), HEAD_SIZE, *range(128, min(len(data), 2048), 29)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cut in cuts:
            head = data[:cut]
            source = io.BytesIO(head)
            fast = header_reader.read(head, source, DEFER_SIZE)
            if fast is None:
                continue
            expected = _dcmread_outcome(head)
            assert not isinstance(expected, type), f"dcmread raises {expected} at {cut}"
            _assert_same_dataset(*fast, *expected)
            assert _derived(fast[0]) == _derived(expected[0])


def test_header_reader_takes_the_common_files():
    """The sample files of the tests and of /work/shared/data (explicit VR little endian,
    defined lengths) and a generated instance go through the one-pass reader."""
    common = [*(HERE / "data").glob("*.dcm"), *Path("/work/shared/data").glob("*.dcm")]
    assert common
    for data in [path.read_bytes() for path in common] + [to_bytes(make_dataset())]:
        assert header_reader.read(data, io.BytesIO(data), DEFER_SIZE) is not None

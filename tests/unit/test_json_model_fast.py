"""The fast ``to_dicom_json`` against the pydicom-based algorithm it replaced.

``_reference`` below is that algorithm, unchanged: every dataset must give byte-identical
``dumps`` output (or both must raise). Each case is read twice, once per algorithm, because
encoding converts a dataset's raw elements in place.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import pydicom
import pytest
from pydicom import config, dcmread
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from app.dicomweb.json_model import (
    BULKDATA_SCHEME, DEFER_SIZE, _Encoder, dumps, to_dicom_json)
from app.dicomweb.tags import BINARY_VRS, tag_path
from tests.dicom_factory import DATA_DIR, make_dataset, to_bytes

SHARED_DATA = Path("/work/shared/data")
PYDICOM_DATA = Path(pydicom.__file__).parent / "data"
ALL_VRS = ("AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD",
           "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
           "UL", "UN", "UR", "US", "UT", "UV")


# --- the replaced algorithm (app/dicomweb/json_model.py before the fast encoder) ---

def _index_bulk_paths(ds: Dataset, prefix: str, paths: dict[int, str],
                      skip: set[int]) -> None:
    for tag in list(ds.keys()):
        if prefix == "" and int(tag) in skip:
            continue
        elem = ds[tag]
        path = f"{prefix}{tag_path(tag)}"
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or []):
                _index_bulk_paths(item, f"{path}/{index}/", paths, skip)
        elif elem.VR in BINARY_VRS:
            paths[id(elem)] = path


def _reference(ds: Dataset, exclude: Iterable[int] = ()) -> dict[str, Any]:
    excluded = {int(t) for t in exclude}
    deferred: list[tuple[int, str]] = []
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            deferred.append((int(tag), str(raw.VR or "UN")))
            excluded.add(int(tag))
    view = Dataset()
    for tag in ds.keys():
        if int(tag) not in excluded:
            view[tag] = ds[tag]
    paths: dict[int, str] = {}
    _index_bulk_paths(view, "", paths, set())

    def handler(elem: DataElement) -> str:
        return BULKDATA_SCHEME + paths.get(id(elem), tag_path(elem.tag))

    result = view.to_json_dict(bulk_data_threshold=0, bulk_data_element_handler=handler)
    for tag, vr in deferred:
        if tag in {int(t) for t in exclude}:
            continue
        result[tag_path(tag)] = {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + tag_path(tag)}
    return dict(sorted(result.items()))


# --- helpers ---

def _outcome(encode: Callable[[], dict[str, Any]]) -> tuple[str, str]:
    """("ok", JSON text) or ("error", exception type) of one encoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", dumps(encode())
    except Exception as exc:  # compared below: both algorithms must fail alike
        return "error", type(exc).__name__


def assert_same(load: Callable[[], Dataset], exclude: Iterable[int] = (),
                expect_ok: bool = True) -> None:
    """Both algorithms give the same text for fresh copies from ``load`` and for a copy whose
    elements were all converted beforehand (as STOW's validation does)."""
    expected = _outcome(lambda: _reference(load(), list(exclude)))
    assert _outcome(lambda: to_dicom_json(load(), list(exclude))) == expected
    assert _outcome(lambda: to_dicom_json(_converted(load()), iter(list(exclude)))) == expected
    if expect_ok:
        assert expected[0] == "ok", expected


def _converted(ds: Dataset) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for elem in ds.iterall():
            pass
    return ds


def _parse(data: bytes, defer_size: int | None = DEFER_SIZE) -> Dataset:
    """As app/dicomweb/part10.py::read does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(io.BytesIO(data), stop_before_pixels=True, defer_size=defer_size,
                       force=True)


def _round_trip(ds: Dataset, implicit: bool = False) -> Callable[[], Dataset]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = to_bytes(ds, implicit=implicit)
    return lambda: _parse(data)


def _both(ds_factory: Callable[[], Dataset], exclude: Iterable[int] = (),
          expect_ok: bool = True) -> None:
    """The built datasets themselves, and the same written and read back."""
    assert_same(ds_factory, exclude, expect_ok)
    assert_same(_round_trip(ds_factory()), exclude, expect_ok)


def _dicom_files() -> list[Path]:
    files = sorted(DATA_DIR.glob("*.dcm"))
    if SHARED_DATA.is_dir():
        files += sorted(SHARED_DATA.glob("*.dcm"))
    files += sorted(PYDICOM_DATA.glob("**/*.dcm"))
    return files


# --- real files ---

@pytest.mark.parametrize("path", _dicom_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_files_match(path: Path):
    data = path.read_bytes()
    assert_same(lambda: _parse(data), expect_ok=False)


@pytest.mark.parametrize("path", _dicom_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_files_with_deferred_elements_match(path: Path):
    """A tiny defer size defers many elements (read from the named file when encoded)."""
    def load() -> Dataset:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open(path, "rb") as handle:
                return dcmread(handle, stop_before_pixels=True, defer_size=64, force=True)
    assert_same(load, exclude=[0x00100010, 0x00080018], expect_ok=False)


def test_large_deferred_elements_are_read_and_emitted(tmp_path):
    ds = make_dataset(pixels=False)
    ds.add_new(0x00091000, "LO", "CREATOR")
    ds.add_new(0x00091010, "OB", b"\x01" * (DEFER_SIZE + 2))
    ds.add_new(0x00189381, "UT", "x" * (DEFER_SIZE + 2))
    ds.add_new(0x00181030, "LO", "protocol")
    path = tmp_path / "large.dcm"
    path.write_bytes(to_bytes(ds))

    def load() -> Dataset:
        with open(path, "rb") as handle:
            return dcmread(handle, stop_before_pixels=True, defer_size=DEFER_SIZE)
    assert isinstance(load()._dict[0x00189381], RawDataElement)
    assert_same(load)
    assert_same(load, exclude=[0x00189381, 0x00091010])
    result = to_dicom_json(load())
    assert result["00091010"] == {"vr": "OB", "BulkDataURI": "bulkdata:00091010"}
    assert result["00189381"]["Value"] == ["x" * (DEFER_SIZE + 2)]


# --- built datasets ---

def _base(**attrs: Any) -> Dataset:
    """tests.dicom_factory's CT instance with fixed UIDs (each case is built several times)."""
    return make_dataset(study_uid="1.2.3", series_uid="1.2.3.4", sop_uid="1.2.3.4.5", **attrs)


def _empty_value(vr: str) -> Any:
    return {"SQ": [], "OB": b"", "OD": b"", "OF": b"", "OL": b"", "OV": b"", "OW": b"",
            "UN": b""}.get(vr, None)


def test_empty_elements_of_every_vr():
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.add_new(0x00291000, "LO", "EMPTY")
        for index, vr in enumerate(ALL_VRS):
            ds.add_new(0x00291010 + index, vr, _empty_value(vr))
            ds.add_new(0x00291040 + index, vr, "" if vr not in ("SQ", "AT") else None)
        return ds
    _both(build)


def test_multi_values_with_empty_entries():
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.add_new(0x00080008, "CS", ["ORIGINAL", "", "AXIAL", ""])
        ds.add_new(0x00200037, "DS", ["1", "0", "0", "0", "1", "0"])
        ds.add_new(0x00181210, "SH", ["", ""])
        ds.add_new(0x00081090, "LO", "MODEL")
        ds.add_new(0x00180015, "CS", "")
        ds.add_new(0x00280010, "US", [4, 0])
        ds.add_new(0x00281052, "DS", "-1024")
        ds.add_new(0x00089007, "CS", ["ORIGINAL", "PRIMARY", "", "NONE"])
        return ds
    _both(build)


def test_empty_number_entries_fail_alike():
    """'1\\\\2' in an IS or DS: pydicom cannot convert the empty entry; both raise or both
    give the same value."""
    for vr in ("IS", "DS"):
        raw = _raw_element(0x00181060 if vr == "DS" else 0x00200012, vr, b"1\\\\2 ")
        _raw_case([raw], expect_ok=False)


@pytest.mark.parametrize("vr,text", [
    ("IS", b"1.0 "), ("IS", b" 12 "), ("IS", b"+5"), ("IS", b"-0"), ("IS", b"abc "),
    ("IS", b"1e3 "), ("IS", b"12345678901\\2 "), ("IS", b"2.5 "),
    ("DS", b"1e3 "), ("DS", b" 12 "), ("DS", b"1.0 "), ("DS", b"-0.0"), ("DS", b"NaN "),
    ("DS", b"inf "), ("DS", b"abc "), ("DS", b"1.5\\2.25"), ("DS", b".5"), ("DS", b"1,5 "),
])
def test_is_ds_edge_and_invalid_values(vr, text):
    tag = 0x00181060 if vr == "DS" else 0x00200012
    _raw_case([_raw_element(tag, vr, text)], expect_ok=False)


def test_ds_auto_format_and_float_values():
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.add(DataElement(0x00281050, "DS", [0.1 + 0.2, 1 / 3]))
        ds.add(DataElement(0x00281051, "DS", 400.0))
        ds.add(DataElement(0x00181060, "DS", pydicom.valuerep.DSfloat(1 / 7, auto_format=True)))
        ds.add(DataElement(0x00180050, "DS", "  2.50 "))
        ds.add(DataElement(0x00200013, "IS", 7))
        ds.add(DataElement(0x00200012, "IS", [1, 2, 3]))
        return ds
    _both(build)


@pytest.mark.parametrize("name", [
    "Doe^John", "Doe^John=Ideo^Graphic", "Doe^John=Ideo^Graphic=Pho^Netic", "==Pho^Netic",
    "=Ideo", "Doe^John==", "^^^^", "Doe^John\\\\Roe^Jane", "\\", "A=B=C\\D", "Doe^John ",
])
def test_person_names(name):
    """An empty entry of a multi-valued PN makes pydicom raise (IndexError): both must fail."""
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.PatientName = name
        ds.add_new(0x00081070, "PN", name.split("\\"))
        return ds
    _both(build, expect_ok="" not in name.split("\\"))


def test_person_names_in_other_character_sets():
    _both(lambda: _base(pixels=False, SpecificCharacterSet="ISO_IR 192",
                               PatientName="Wang^XiaoDong=王^小東=ワン^ショートン"))


def test_attribute_tags():
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.add_new(0x00209165, "AT", 0x00100010)
        ds.add_new(0x00209167, "AT", [0x00100010, 0x7FE00010, 0])
        ds.add_new(0x00209213, "AT", 0)
        ds.add_new(0x0020930E, "AT", [0x00200032])
        return ds
    _both(build)


def _item(**attrs: Any) -> Dataset:
    item = Dataset()
    for key, value in attrs.items():
        setattr(item, key, value)
    return item


def _nested() -> Dataset:
    ds = _base()
    lut = _item(LUTDescriptor=[4, 0, 16], LUTExplanation="lut", ModalityLUTType="HU")
    lut.add_new(0x00283006, "US or OW", b"\x00\x01" * 4)
    inner = _item(CodeValue="123", CodingSchemeDesignator="DCM", CodeMeaning="x")
    inner.add_new(0x00091000, "LO", "NESTED")
    inner.add_new(0x00091010, "OB", b"\x01\x02")
    inner.add_new(0x00091011, "UN", b"\x03\x04")
    inner.add_new(0x00091012, "OW", b"")
    radio = _item(RadiopharmaceuticalStartTime="101010", RadionuclideTotalDose="100")
    radio.add_new(0x00540300, "SQ", [inner, _item()])
    radio.add_new(0x00181072, "OB", b"\x05")
    ds.ModalityLUTSequence = [lut]
    ds.add_new(0x00540016, "SQ", [radio, _item(RadiopharmaceuticalStartTime="1")])
    ds.add_new(0x00081140, "SQ", [])
    ds.add_new(0x00082112, "SQ", [_item()])
    ds.add_new(0x00091000, "LO", "CREATOR")
    ds.add_new(0x00091001, "OB", b"\x07" * 9)
    ds.add_new(0x00091002, "SQ", [_item(PatientID="in-private")])
    ds.add_new(0x00111010, "OW", b"\x00\x01")  # a private tag without creator
    ds.add_new(0x00283010, "SQ", [])
    ds.RedPaletteColorLookupTableData = b"\x00\x01" * 8
    return ds


def test_nested_sequences_with_binary_elements_and_private_tags():
    _both(_nested)
    _both(_nested, exclude=[0x00091001, 0x00540016, 0x00100010, 0x12345678])
    # written implicit VR: private elements without a known VR come back as UN
    assert_same(_round_trip(_nested(), implicit=True), exclude=[0x00280103])
    result = to_dicom_json(_nested())
    item = result["00540016"]["Value"][0]
    assert item["00181072"] == {"vr": "OB", "BulkDataURI": "bulkdata:00540016/0/00181072"}
    assert item["00540300"]["Value"][0]["00091010"]["BulkDataURI"] == (
        "bulkdata:00540016/0/00540300/0/00091010")
    assert "00540016" not in to_dicom_json(_nested(), exclude=[0x00540016])


def test_big_endian_files():
    def build() -> Dataset:
        ds = _nested()
        del ds.ModalityLUTSequence  # 'US or OW' written big endian needs the LUT descriptor
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"
        return ds
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build().save_as(buffer, implicit_vr=False, little_endian=False)
    data = buffer.getvalue()
    assert_same(lambda: _parse(data))


def test_shared_element_objects_get_their_last_path_as_before():
    """Only built datasets can hold one element object twice; the old path index (keyed by
    id) gave every occurrence the last path."""
    def build() -> Dataset:
        ds = _base(pixels=False)
        item = Dataset()
        item.add_new(0x00091000, "LO", "C")
        item.add_new(0x00091010, "OB", b"\x01")
        other = Dataset()
        other[0x00091010] = item[0x00091010]
        ds.add_new(0x00540016, "SQ", [item, item, other])
        return ds
    assert_same(build)
    uris = [i["00091010"]["BulkDataURI"] for i in to_dicom_json(build())["00540016"]["Value"]]
    assert uris == ["bulkdata:00540016/2/00091010"] * 3


def test_unusual_values_fall_back_to_pydicom():
    def build() -> Dataset:
        ds = _base(pixels=False)
        ds.add(DataElement(0x00091010, "OB", bytearray(b"\x01\x02")))
        ds.add(DataElement(0x00200012, "IS", [5]))
        ds.add(DataElement(0x00100021, "LO", ["only"]))
        ds.add(DataElement(0x00081070, "PN", ["One^Name"]))
        ds.add(DataElement(0x00209165, "AT", [0x00100010]))
        ds.add(DataElement(0x00281050, "DS", []))
        return ds
    assert_same(build, expect_ok=False)
    fallback = _Encoder()
    elem = DataElement(0x00091010, "OB", bytearray(b"\x01\x02"))  # a MultiValue of ints
    assert fallback.element(elem, "00540016/0/00091010") == {
        "vr": "OB", "BulkDataURI": "bulkdata:00540016/0/00091010"}


def test_decimal_ds_values():
    config.DS_decimal(True)
    try:
        _both(lambda: _base(pixels=False, SliceThickness="2.5",
                                   PixelSpacing=["0.5", "0.25"]))
    finally:
        config.DS_decimal(False)


def test_sequence_of_non_datasets_fails_alike():
    def build() -> Dataset:
        ds = _base(pixels=False)
        elem = DataElement(0x00081140, "SQ", Sequence([Dataset()]))
        elem._value = [Dataset(), "not a dataset"]
        ds.add(elem)
        return ds
    assert_same(build, expect_ok=False)
    assert _outcome(lambda: to_dicom_json(build()))[0] == "error"


# --- raw elements (values pydicom would not write) ---

def _raw_element(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(pydicom.tag.Tag(tag), vr, len(value), value, 0, False, True)


def _raw_case(raw: list[RawDataElement], expect_ok: bool = True) -> None:
    def load() -> Dataset:
        ds = _base(pixels=False)
        for elem in raw:
            ds._dict[elem.tag] = elem
        ds._dict = dict(sorted(ds._dict.items()))
        return ds
    assert_same(load, expect_ok=expect_ok)


def test_raw_text_values_with_trailing_padding():
    _raw_case([
        _raw_element(0x00080060, "CS", b"CT "),
        _raw_element(0x00080018, "UI", b"1.2.3\x00"),
        _raw_element(0x00081030, "LO", b"desc\\second "),
        _raw_element(0x00204000, "LT", b"  text with spaces  "),
        _raw_element(0x00100010, "PN", b"Doe^John=\x00"),
        _raw_element(0x00180015, "CS", b"  "),
        _raw_element(0x00209165, "AT", b"\x10\x00\x10\x00\x08\x00\x18\x00"),
        _raw_element(0x00280010, "US", b"\x04\x00\x05\x00"),
        _raw_element(0x00189219, "FD", b"\x00" * 8),
        _raw_element(0x00091000, "LO", b"RAWCREATOR"),
        _raw_element(0x00091010, "UN", b"\x01\x02\x03\x04"),
        _raw_element(0x00280106, "US or SS", b"\x01\x00"),
    ])

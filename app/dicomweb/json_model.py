"""DICOM JSON (PS3.18 Annex F) of pydicom datasets, with BulkDataURI for binary attributes.

The stored JSON names bulk data ``bulkdata:<path>`` where ``<path>`` is the tag path
(``7FE00010`` at the top level, ``00540016/0/00181072`` inside a sequence item). WADO replaces
the ``bulkdata:`` prefix with the instance's absolute URL + ``/bulkdata/`` (decisions §5).
"""
from __future__ import annotations

import json
import json.encoder
from typing import Any, Iterable

from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import AMBIGUOUS_VR, BYTES_VR, FLOAT_VR, INT_VR, VR, PersonName

from .tags import BINARY_VRS, tag_path

BULKDATA_SCHEME = "bulkdata:"
#: dcmread defers elements larger than this (to_dicom_json still reads them: see there).
DEFER_SIZE = 64 * 1024


def to_dicom_json(ds: Dataset, exclude: Iterable[int] = ()) -> dict[str, Any]:
    """The DICOM JSON of a dataset, with ``exclude`` tags (top level) left out, keys sorted.

    The same as pydicom's ``Dataset.to_json_dict`` with every non-empty binary value
    (OB OD OF OL OV OW UN and the ambiguous binary VRs) given as a ``bulkdata:`` BulkDataURI,
    but without pydicom's per-element overhead (see ``_Encoder``). Raw elements are converted
    through ``ds[tag]`` as pydicom would; an element that dcmread deferred is read then too,
    even when excluded (``Dataset.get_item`` reads it), so its value is emitted like any other.
    """
    excluded = {int(t) for t in exclude}
    encoder = _Encoder()
    result: dict[str, Any] = {}
    elements = ds._dict
    for tag in elements:
        elem = elements[tag]
        if int(tag) in excluded:
            if isinstance(elem, RawDataElement) and elem.value is None:
                ds.get_item(tag)  # a deferred element is read (and may fail) even if excluded
            continue
        if type(elem) is not DataElement:
            elem = ds[tag]  # converts (or reads) a raw element and stores the result
        key = f"{tag:08X}"
        result[key] = encoder.element(elem, key)
    encoder.resolve_shared_bulk_data()
    return dict(sorted(result.items()))


#: VRs pydicom encodes as InlineBinary/BulkDataURI (its binary branch): the binary VRs and
#: the ambiguous VRs except 'US or SS'.
_BULK_BRANCH_VRS = frozenset(str(vr) for vr in (BYTES_VR | AMBIGUOUS_VR) - {VR.US_SS})
#: How pydicom's ``convert_to_python_number`` converts each value, by VR.
_NUMBER_TYPES: dict[str, type] = {
    **{str(vr): int for vr in (INT_VR - {VR.AT}) | {VR.US_SS}},
    **{str(vr): float for vr in FLOAT_VR},
}


class _Encoder:
    """One walk over a dataset's elements, building what ``DataElement.to_json_dict`` would.

    The common value types are encoded directly; anything else goes to pydicom's own
    ``DataElement.to_json_dict`` (``_fallback``) so the result never depends on this class
    covering every case. BulkDataURIs use the element's tag path (``00540016/0/00181072``),
    except for the ambiguous VRs ('OB or OW'...), which get the bare tag as before.
    """

    def __init__(self) -> None:
        #: id(element) -> its (last) tag path, and every BulkDataURI dict given for an element.
        self.paths: dict[int, str] = {}
        self.bulk: list[tuple[int, dict[str, Any]]] = []

    def dataset(self, ds: Dataset, prefix: str) -> dict[str, Any]:
        """A sequence item: its elements in the dataset's own order (not sorted)."""
        result: dict[str, Any] = {}
        elements = ds._dict
        for tag in elements:
            elem = elements[tag]
            if type(elem) is not DataElement:
                elem = ds[tag]
            key = f"{tag:08X}"
            result[key] = self.element(elem, prefix + key)
        return result

    def element(self, elem: DataElement, path: str) -> dict[str, Any]:
        """The JSON of one element at ``path``."""
        vr = elem.VR
        value = elem.value
        if vr in _BULK_BRANCH_VRS:
            return self._binary(elem, vr, value, path)
        if vr == "SQ":
            return self._sequence(elem, value, path)
        if vr == "PN":
            return self._person_names(elem, value, path)
        if vr == "AT":
            return self._tags(elem, value, path)
        return self._values(elem, vr, value, path)

    def _binary(self, elem: DataElement, vr: str, value: Any, path: str) -> dict[str, Any]:
        if value is None or (type(value) is bytes and not value):
            return {"vr": vr}
        if type(value) is not bytes:
            return self._fallback(elem, path)
        if vr not in BINARY_VRS:  # an ambiguous VR: the old index never gave it a path
            return {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + tag_path(elem.tag)}
        return self._bulk(elem, path, {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + path})

    def _sequence(self, elem: DataElement, value: Any, path: str) -> dict[str, Any]:
        if value is None or not all(isinstance(item, Dataset) for item in value):
            return self._fallback(elem, path)  # pydicom raises
        return {"vr": "SQ", "Value": [self.dataset(item, f"{path}/{index}/")
                                      for index, item in enumerate(value)]}

    def _person_names(self, elem: DataElement, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {"vr": "PN"}
        if isinstance(value, PersonName):
            if not value:
                return {"vr": "PN"}
            names = [value]
        elif isinstance(value, MultiValue) and len(value) > 1:
            names = value
        else:
            return self._fallback(elem, path)
        return {"vr": "PN", "Value": [_name_groups(name) for name in names]}

    def _tags(self, elem: DataElement, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {"vr": "AT"}
        if isinstance(value, int):
            return {"vr": "AT", "Value": [format(value, "08X")]}
        if isinstance(value, MultiValue) and len(value) > 1:
            return {"vr": "AT", "Value": [format(tag, "08X") for tag in value]}
        return self._fallback(elem, path)

    def _values(self, elem: DataElement, vr: str, value: Any, path: str) -> dict[str, Any]:
        """Text and number VRs: ``Value`` holds the values, IS/DS and binary numbers as
        int/float (``int(" 12 ")`` and ``float("1e3")`` as in pydicom; invalid ones raise)."""
        if isinstance(value, str):
            if not value:
                return {"vr": vr}
            values = [value]
        elif isinstance(value, (int, float)):
            values = [value]
        elif value is None:
            return {"vr": vr}
        elif isinstance(value, MultiValue) and len(value) > 1:
            values = list(value)
        else:
            return self._fallback(elem, path)
        number = _NUMBER_TYPES.get(vr)
        if number is not None:
            values = [number(v) if v is not None else empty_value_for_VR(vr) for v in values]
        return {"vr": vr, "Value": values}

    def _bulk(self, elem: DataElement, path: str, json_element: dict[str, Any]
              ) -> dict[str, Any]:
        """Note a BulkDataURI given for a binary-VR element (see resolve_shared_bulk_data)."""
        self.paths[id(elem)] = path
        self.bulk.append((id(elem), json_element))
        return json_element

    def _fallback(self, elem: DataElement, path: str) -> dict[str, Any]:
        """pydicom's own encoding of one element (an unusual value type)."""
        json_element = elem.to_json_dict(self._bulk_data_uri, 0)
        if elem.VR in BINARY_VRS and "BulkDataURI" in json_element:
            self._bulk(elem, path, json_element)
            json_element["BulkDataURI"] = BULKDATA_SCHEME + path
        return json_element

    def _bulk_data_uri(self, elem: DataElement) -> str:
        return BULKDATA_SCHEME + tag_path(elem.tag)  # replaced by _fallback for binary VRs

    def resolve_shared_bulk_data(self) -> None:
        """An element object found at several places gets its last path everywhere, as the
        old id()-keyed path index gave it (only built datasets can share elements)."""
        if len(self.paths) == len(self.bulk):
            return
        for key, json_element in self.bulk:
            json_element["BulkDataURI"] = BULKDATA_SCHEME + self.paths[key]


def _name_groups(name: PersonName) -> dict[str, str]:
    """The Alphabetic/Ideographic/Phonetic groups present in a person name."""
    components = name.components
    groups = {"Alphabetic": components[0]}
    if len(components) > 1:
        groups["Ideographic"] = components[1]
    if len(components) > 2:
        groups["Phonetic"] = components[2]
    return groups


def add_bulkdata_element(result: dict[str, Any], tag: int, vr: str) -> None:
    """Add a bulk-data reference for an element that was not read (e.g. PixelData)."""
    result[tag_path(tag)] = {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + tag_path(tag)}


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: The C encoder ``_ENCODER.encode`` would build anew on every call (about 3 us, which QIDO
#: pays per returned stored attribute); None where the C accelerator is missing. No circular
#: reference check: the values are trees (parsed JSON, built datasets).
_C_ENCODE = None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring,  # type: ignore[attr-defined]
    None, ":", ",", False, False, True)


def dumps(value: Any) -> str:
    """Compact JSON text, as stored and served (exactly ``json.dumps(value, separators=(",",
    ":"), ensure_ascii=False)``, without building an encoder per call)."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def with_bulkdata_base(dataset_json: str, instance_url: str) -> str:
    """Resolve stored ``bulkdata:`` references against the instance's absolute URL."""
    return dataset_json.replace(f'"{BULKDATA_SCHEME}', f'"{instance_url}/bulkdata/')

"""A read dataset's top-level elements, converted once (the store's hot path).

pydicom converts a raw element on every first access and looks it up anew on each one after;
``convert_elements`` converts each element once into a dict that validation and the index
columns then use (decisions "Store", fourth pass: cheaper element conversion).
"""
from __future__ import annotations

import zlib
from typing import Any, Mapping

from pydicom import config as pydicom_config
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.hooks import hooks
from pydicom.multival import MultiValue
from pydicom.values import convert_value

#: What pydicom raises for bytes it cannot read or convert as DICOM (RecursionError: sequences
#: nested deeper than the interpreter's stack).
DECODE_ERRORS = (InvalidDicomError, BytesLengthException, EOFError, ValueError, KeyError,
                 TypeError, OSError, AttributeError, IndexError, NotImplementedError,
                 OverflowError, RecursionError, zlib.error)
_UNDEFINED_LENGTH = 0xFFFFFFFF


def first_value(value: Any) -> Any:
    """The first of several values, the value itself otherwise (None for no value)."""
    if type(value) is str:  # the usual case, without the ABC check of MultiValue
        return value
    if isinstance(value, (list, tuple, MultiValue)):
        return value[0] if len(value) else None
    return value


def uid_value(elements: Mapping[int, DataElement] | Dataset, tag: int) -> str:
    """The (first) UID of the element ``tag``, without padding."""
    return str(first_value(elements[tag].value)).rstrip(" \x00")


def raw_value(ds: Dataset, tag: int) -> bytes | None:
    """The value bytes of a not yet converted element (None when absent or converted); call it
    before ``convert_elements``. pydicom trims NUL padding when it converts a text value."""
    raw = ds.get_item(tag) if tag in ds._dict else None
    return raw.value if isinstance(raw, RawDataElement) else None


def convert_elements(ds: Dataset, undecodable: dict[int, str] | None = None
                     ) -> dict[int, DataElement]:
    """The dataset's top-level elements by tag, each read once (pydicom converts a raw element
    on every first access and looks it up anew on each one after). Deferred elements (large
    values dcmread did not read) are left out: nothing here needs their values. Elements whose
    value pydicom cannot convert (e.g. an FD of 5 bytes) are left out too, and with
    ``undecodable`` recorded there (tag -> VR)."""
    elements: dict[int, DataElement] = {}
    encoding = ds.original_character_set
    direct = _default_conversion()
    stored = ds._dict
    for tag in ds.keys():
        raw = ds.get_item(tag)
        try:
            if isinstance(raw, RawDataElement):
                if raw.value is None and raw.length:
                    continue
                vr = raw.VR
                if encoding and vr in _PLAIN_VRS and tag != _SPECIFIC_CHARACTER_SET:
                    number = int(tag)
                    if (direct and vr != "UN" and number not in _SPECIAL_TAGS
                            and not number & 0x10000):
                        # What pydicom's default hooks and Dataset.__setitem__ do for such an
                        # element (public, not pixel data nor a LUT descriptor, VR not UN, which
                        # the hooks may replace), without their dispatch, lookups and Tag
                        # comparisons.
                        elem = DataElement(tag, vr, convert_value(vr, raw, encoding),
                                           raw.value_tell, raw.length == _UNDEFINED_LENGTH,
                                           already_converted=True)
                    else:
                        elem = convert_raw_data_element(raw, encoding=encoding, ds=ds)
                    stored[tag] = elements[number] = elem
                    continue
            elements[int(tag)] = ds[tag]
        except DECODE_ERRORS:
            if undecodable is None:
                raise
            undecodable[int(tag)] = str(getattr(raw, "VR", None) or "UN")
    return elements


def _default_conversion() -> bool:
    """Whether pydicom converts raw elements its default way (no hook or callback set)."""
    return (hooks.raw_element_vr is _DEFAULT_VR_HOOK
            and hooks.raw_element_value is _DEFAULT_VALUE_HOOK
            and not hooks.raw_element_kwargs and not pydicom_config.data_element_callback
            and not pydicom_config.convert_wrong_length_to_UN)


_DEFAULT_VR_HOOK, _DEFAULT_VALUE_HOOK = hooks.raw_element_vr, hooks.raw_element_value
#: Tags pydicom treats specially when converting or storing an element: the LUT descriptors
#: (it fixes their first value) and pixel data (storing it resets the dataset's pixel array).
_SPECIAL_TAGS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002,
                           0x7FE00008, 0x7FE00009, 0x7FE00010})
#: VRs whose raw elements convert on their own (ds[tag] treats SQ and ambiguous VRs more).
_PLAIN_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                        "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SS", "ST", "SV",
                        "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"})
_SPECIFIC_CHARACTER_SET = 0x00080005

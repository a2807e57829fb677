"""Validation of stored datasets (reference.md §3.4).

``minimum_validate`` is the reference's ElementMinimumValidator for indexed attributes; its
messages are the reference's. ``lenient_problems`` checks every other element with pydicom's
VR rules, for v2 warnings.
"""
from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator

from pydicom import config as pydicom_config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import validate_value

from .identifiers import is_valid_uid
from .tags import BINARY_VRS, keyword

_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f]")  # control characters except ESC (0x1b)
_MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64}
#: Start of the too-long reason; the store's message adds the limit (`` of 16.``).
EXCEEDS_MAX_LENGTH = "Value length exceeds maximum length"


class ElementValidationError(ValueError):
    """An element value breaks its VR's rules; ``str()`` is the reference's message."""

    def __init__(self, name: str, vr: str, reason: str):
        super().__init__(f"Dicom element '{name}' failed validation for VR '{vr}': {reason}")
        self.name, self.vr, self.reason = name, vr, reason


def _values(value: Any) -> list[Any]:
    if type(value) is str:  # the usual case, without the ABC check of MultiValue
        return [value] if value else []
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [v for v in value if v not in (None, "")]
    return [value]


@lru_cache(maxsize=8192)
def _check_string(vr: str, text: str) -> str | None:
    """Return the reason a single value is invalid for ``vr``, or None.

    Cached: the instances of a study repeat most values (dates, names, UIDs of the study)."""
    text = text.rstrip("\x00").rstrip(" ") if vr != "UI" else text.rstrip("\x00")
    if not text:
        return None
    if vr in _MAX_LENGTH:
        if len(text) > _MAX_LENGTH[vr]:
            return f"{EXCEEDS_MAX_LENGTH} of {_MAX_LENGTH[vr]}."
        if vr == "LO" and ("\\" in text or _CONTROL.search(text)):
            return "Value contains invalid character."
        if vr in ("AE", "CS", "SH") and _CONTROL.search(text):
            return "Value contains invalid character."
        return None
    if vr == "AS":
        return None if len(text) == 4 else "Value length is not expected."
    if vr == "DA":
        try:
            datetime.strptime(text.strip(), "%Y%m%d")
        except ValueError:
            return "Value cannot be parsed as a valid date."
        return None
    if vr == "UI":
        return None if is_valid_uid(text) else (
            "DICOM Identifier is invalid. Value length should not exceed the maximum length of "
            "64 characters. Value should contain characters in '0'-'9' and '.'. "
            "Each component must start with non-zero number.")
    if vr == "PN":
        groups = text.split("=")
        if len(groups) > 3:
            return "Value contains more than 3 groups."
        for group in groups:
            if len(group) > 64:
                return "One or more group of person name exceeds maxium length of 64."
            if len(group.split("^")) > 5:
                return "Value contains more than 5 components."
        if _CONTROL.search(text):
            return "Value contains invalid character."
        return None
    if vr in ("DT", "TM", "IS", "DS"):
        try:
            validate_value(vr, text.strip(), pydicom_config.RAISE)
        except (ValueError, TypeError):
            return "Value is not valid for its VR."
        return None
    return None


def minimum_validate(elem: DataElement, name: str | None = None) -> None:
    """Validate an indexed element; raise ElementValidationError with the reference's text."""
    vr = elem.VR
    name = name or keyword(elem.tag)
    if vr in ("FD", "FL", "SL", "SS", "UL", "US"):
        return  # binary numbers were already decoded by pydicom; a wrong length fails to read
    for value in _values(elem.value):
        if vr == "PN":
            value = str(value)
        if isinstance(value, str):
            reason = _check_string(vr, value)
            if reason:
                raise ElementValidationError(name, vr, reason)


def lenient_problems(ds: Dataset | Iterable[DataElement]) -> Iterator[tuple[DataElement, str]]:
    """Every element (recursively) whose value pydicom finds invalid for its VR.

    ``ds`` may also be the dataset's top-level elements, already read."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from lenient_problems(item)
            continue
        if elem.VR in BINARY_VRS or elem.tag.is_private:
            continue
        try:
            values = _values(elem.value)
        except Exception:  # undecodable value
            yield elem, "Value cannot be decoded."
            continue
        for value in values:
            text = str(value) if elem.VR == "PN" else value
            if not isinstance(text, str):
                continue
            reason = _check_string(elem.VR, text)
            if reason:
                yield elem, ElementValidationError(keyword(elem.tag), elem.VR, reason).reason
                break

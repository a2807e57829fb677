"""UPS-RS request bodies and workitem datasets as DICOM JSON (PS3.18 F.2), without Flask.

A workitem is kept as the DICOM JSON object it arrived as (keys normalised to upper-case hex):
merging an update, checking requirements and returning attributes are dictionary operations, and
the stored text is what retrieve returns. ``parse_body`` checks the structure the reference's
JSON reader needs (reference-2.md §1.2); values are not checked against their VR, as there.
"""
from __future__ import annotations

import json
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.valuerep import VR

from ..errors import BadRequestError
from .collation import fold_name
from .extended_query_tag_values import has_offset, normalize_datetime

Element = dict[str, Any]
DicomJson = dict[str, Element]

BODY_MISSING = "The request body is missing."
#: Sequences nested deeper than this are refused (400): Python's JSON reader and writer recurse
#: per level, so an unbounded depth would end in a RecursionError (a 500) when the body or the
#: stored workitem is read. Real workitems nest a few levels.
MAX_SEQUENCE_DEPTH = 64
_VRS = frozenset(vr.value for vr in VR)
_BINARY_KEYS = ("BulkDataURI", "InlineBinary")


def tag_key(keyword: str) -> str:
    """The DICOM JSON key (8 upper-case hex digits) of a dictionary keyword."""
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


def body_error(detail: str) -> BadRequestError:
    """The reference's model-binding 400 for a body it cannot read (reference-2.md §1.2)."""
    return BadRequestError(f"The query parameter 'dicomDatasets' is invalid. {detail}")


def parse_body(data: bytes) -> DicomJson:
    """The first dataset of a request body: a JSON array of DICOM JSON objects.

    Raises
    ------
    BadRequestError : the body is empty, not JSON, not an array of datasets, or malformed
    """
    if not data.strip():
        raise BadRequestError(BODY_MISSING)
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise body_error("The request body is not valid JSON.") from None
    if not isinstance(body, list) or not body:
        raise body_error("The request body must be a JSON array of DICOM datasets.")
    if not all(isinstance(item, dict) for item in body):
        raise body_error("Each item of the request body must be a DICOM JSON dataset.")
    return _dataset(body[0], "", 0)


def _dataset(obj: dict[str, Any], path: str, depth: int) -> DicomJson:
    if depth > MAX_SEQUENCE_DEPTH:
        raise body_error(f"'{path[:-1]}' nests sequences deeper than {MAX_SEQUENCE_DEPTH} levels.")
    result: DicomJson = {}
    for key, element in obj.items():
        name = f"{path}{key}"
        if len(key) != 8 or any(c not in "0123456789abcdefABCDEF" for c in key):
            raise body_error(f"'{name}' is not a DICOM JSON attribute tag.")
        if not isinstance(element, dict) or element.get("vr") not in _VRS:
            raise body_error(f"The attribute '{name}' has no valid VR.")
        result[key.upper()] = _element(element, f"{name}.", depth)
    return result


def _element(element: Element, path: str, depth: int) -> Element:
    vr = element["vr"]
    value = element.get("Value")
    if value is None:
        binary = {k: v for k, v in element.items() if k in _BINARY_KEYS}
        # A string each (PS3.18 F.2.7): a nested array here would be stored as it came, deeper
        # than the JSON writer can re-encode when the workitem is next changed (a 500).
        if not all(isinstance(v, str) for v in binary.values()):
            raise body_error(f"The attribute '{path[:-1]}' has a value its VR cannot hold.")
        return {"vr": vr, **binary}
    if not isinstance(value, list):
        raise body_error(f"The value of '{path[:-1]}' must be an array.")
    if vr == "SQ":
        if not all(isinstance(item, dict) for item in value):
            raise body_error(f"The items of '{path[:-1]}' must be DICOM JSON datasets.")
        return {"vr": vr, "Value": [_dataset(item, path, depth + 1) for item in value]}
    for item in value:
        if vr == "PN":
            ok = item is None or isinstance(item, str) or (
                isinstance(item, dict) and all(isinstance(v, str) for v in item.values()))
        else:
            ok = item is None or isinstance(item, (str, int, float)) and not isinstance(item, bool)
        if not ok:
            raise body_error(f"The attribute '{path[:-1]}' has a value its VR cannot hold.")
    return {"vr": vr, "Value": value}


# --- Reading values ---------------------------------------------------------------------------

def values(ds: DicomJson, key: str) -> list[Any]:
    """The values of an element (items for SQ); [] when absent or empty."""
    element = ds.get(key)
    return list(element.get("Value") or []) if element else []


def text(value: Any) -> str:
    """A value as text; a PN value as its alphabetic group (or the groups joined by ``=``)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        groups = [value.get(g) or "" for g in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=")
    return str(value)


def first_text(ds: DicomJson, key: str) -> str | None:
    """The first value of an element as trimmed text, or None when it has none."""
    found = values(ds, key)
    if not found or found[0] is None:
        return None
    return text(found[0]).strip() or None


def element(vr: str, *items: Any) -> Element:
    """A DICOM JSON element; without values when none (or only empty ones) are given."""
    kept = [item for item in items if item is not None and item != ""]
    return {"vr": vr, "Value": kept} if kept else {"vr": vr}


def dumps(ds: DicomJson) -> str:
    return json.dumps(ds, ensure_ascii=False, separators=(",", ":"))


# --- Searchable values ------------------------------------------------------------------------

def name_words(value: str | None) -> str | None:
    """The folded words of a person name (``^``, ``=`` and spaces separate words)."""
    if not value:
        return None
    words = fold_name(value).replace("^", " ").replace("=", " ").split()
    return " ".join(dict.fromkeys(words)) or None


def start_datetime(value: str | None) -> str | None:
    """ScheduledProcedureStepStartDateTime as the index holds it (``YYYYMMDDHHMMSS.ffffff``);
    None for a value that is not a DT without offset."""
    if not value:
        return None
    if has_offset(value):
        value = value[:-5]
    try:
        return normalize_datetime(value)
    except ValueError:
        return None

"""Extracting, validating and normalising extended query tag values (reference.md §8.3).

Used by the store hook (values read from the pydicom dataset) and by the re-index (values read
from the stored DICOM JSON). Only the first value of an element is indexed; null and empty
values are not indexed. ``normalize_value`` maps a VR to its value table and stored form with
``app.dicomweb.extended_query_tag_values``, which QIDO uses for query values, so both sides
agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from ..dao import extended_query_tags as dao
from ..dao.instances import InstanceKeys
from ..dicomweb.collation import folded_column
from ..dicomweb.extended_query_tag_values import (DOUBLE, LONG, PERSON_NAME, STRING, VR_TABLES,
                                                 has_offset, normalize, normalize_person_name,
                                                 value_table)
from ..dicomweb.tags import keyword
from ..dicomweb.validation import EXCEEDS_MAX_LENGTH, ElementValidationError, minimum_validate

SUPPORTED_VRS = frozenset(VR_TABLES)
VR_NOT_EXPECTED = "The extended query tag VR is not expected."
VALUE_TOO_LONG = f"{EXCEEDS_MAX_LENGTH}."
_UNPARSABLE = {"DA": "Value cannot be parsed as a valid date.",
               "DT": "Value cannot be parsed as a valid date time.",
               "TM": "Value cannot be parsed as a valid time.",
               **{vr: "Value cannot be parsed as a valid number."
                  for vr in ("IS", "SL", "SS", "UL", "US", "FL", "FD")}}
_MAX_LENGTH = {STRING: 64, PERSON_NAME: 200}  # the value columns


class InvalidTagValueError(ValueError):
    """An instance's value of an extended query tag cannot be indexed; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class IndexedTag:
    """A tag definition prepared for reading values out of datasets."""

    definition: dao.ExtendedQueryTag
    tag: BaseTag
    creator_tag: BaseTag | None  # the private creator element that must hold the creator

    @property
    def json_key(self) -> str:
        return self.definition.tag_path


def prepare(tags: Iterable[dao.ExtendedQueryTag]) -> list[IndexedTag]:
    """Prepare tag definitions for value extraction."""
    prepared = []
    for definition in tags:
        tag = Tag(int(definition.tag_path, 16))
        creator = None
        if tag.is_private and definition.tag_private_creator and tag.element >= 0x1000:
            creator = Tag(tag.group, tag.element >> 8)
        prepared.append(IndexedTag(definition, tag, creator))
    return prepared


def normalize_value(vr: str, value: Any) -> tuple[str, tuple[Any, ...]]:
    """Map one value of ``vr`` to (value table, stored column values); raise ValueError.

    The stored forms are ``app.dicomweb.extended_query_tag_values``'s (QIDO normalises query
    values the same way); a DT value's UTC offset is dropped (stored as written, without the
    offset), PN adds the lower-case words for fuzzy matching, and strings end with their
    folded form (case-insensitive matching; PN also accent-insensitive).
    """
    table = value_table(vr)
    if table in (LONG, DOUBLE):
        return table, (normalize(vr, value),)
    text = str(value)
    if table == PERSON_NAME:
        stored: tuple[Any, ...] = normalize_person_name(text)
    else:
        if vr == "DT" and has_offset(text):
            text = text.strip()[:-5]
        stored = (normalize(vr, text),)
    if len(stored[0]) > _MAX_LENGTH.get(table, 64):
        raise ValueError(VALUE_TOO_LONG)
    if table in (STRING, PERSON_NAME):
        stored = (*stored, folded_value(table, stored[0]))
    return table, stored


def folded_value(table: str, value: str) -> str:
    """``tag_value_folded`` of a stored string or person name (app/dicomweb/collation.py)."""
    return folded_column(value, "PN" if table == PERSON_NAME else "LO",
                         _MAX_LENGTH[table])  # type: ignore[return-value]


class _Element:
    """The attributes of a DataElement that minimum_validate reads."""

    __slots__ = ("tag", "VR", "value")

    def __init__(self, tag: BaseTag, vr: str, value: Any) -> None:
        self.tag, self.VR, self.value = tag, vr, value


def check_value(tag: IndexedTag, vr: str, values: list[Any]) -> tuple[str, tuple[Any, ...]] | None:
    """Validate an element's values for the tag and normalise the first; None when there is
    nothing to index. Raise InvalidTagValueError with the reason otherwise."""
    definition = tag.definition
    if vr != definition.tag_vr:
        raise InvalidTagValueError(VR_NOT_EXPECTED)
    values = [v for v in values if v is not None and v != ""]
    if not values:
        return None
    try:
        minimum_validate(_Element(tag.tag, vr, values), keyword(tag.tag))
    except ElementValidationError as exc:
        raise InvalidTagValueError(exc.reason) from None
    try:
        return normalize_value(vr, values[0])
    except (ValueError, TypeError, OverflowError) as exc:
        message = str(exc) if str(exc) == VALUE_TOO_LONG else _UNPARSABLE.get(
            vr, "Value is not valid for its VR.")
        raise InvalidTagValueError(message) from None


def error_message(error: InvalidTagValueError) -> str:
    """The message of a re-index error row: the reference keeps an error code there, whose
    message names no limit (``Value length exceeds maximum length.``), while the store's
    comment does (``... of 16.``)."""
    text = str(error)
    return VALUE_TOO_LONG if text.startswith(EXCEEDS_MAX_LENGTH) else text


def _pn_text(value: Any) -> str:
    if isinstance(value, dict):  # DICOM JSON person name object
        groups = [value.get(k) or "" for k in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=")
    return str(value)


def values_from_json(tag: IndexedTag, dataset: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """(VR, values) of the tag in a stored DICOM JSON dataset, or None when absent."""
    element = dataset.get(tag.json_key)
    if element is None:
        return None
    if tag.creator_tag is not None:
        creator = dataset.get(f"{int(tag.creator_tag):08X}", {}).get("Value") or [None]
        if str(creator[0] or "").strip() != tag.definition.tag_private_creator:
            return None
    vr = element.get("vr", "")
    values = element.get("Value") or []
    if vr == "PN":
        values = [_pn_text(v) for v in values if v is not None]
    return vr, values


def values_from_dataset(tag: IndexedTag, ds: Dataset) -> tuple[str, list[Any]] | None:
    """(VR, values) of the tag in a pydicom dataset, or None when absent."""
    elem = ds.get(tag.tag)
    if elem is None:
        return None
    if tag.creator_tag is not None:
        creator = ds.get(tag.creator_tag)
        if creator is None or str(creator.value or "").strip() != \
                tag.definition.tag_private_creator:
            return None
    value = elem.value
    if value is None or value == "":
        values: list[Any] = []
    elif isinstance(value, (list, tuple, MultiValue)):
        values = list(value)
    else:
        values = [value]
    if elem.VR == "PN":
        values = [str(v) for v in values]
    return str(elem.VR), values


def value_row(tag: IndexedTag, keys: InstanceKeys, table: str,
              values: tuple[Any, ...]) -> dao.TagValue:
    """The value row of a tag for an instance, keyed at the tag's level."""
    level = tag.definition.tag_level
    series_key = keys.series_key if level <= dao.LEVEL_SERIES else 0
    instance_key = keys.instance_key if level == dao.LEVEL_INSTANCE else 0
    return dao.TagValue(table, (tag.definition.tag_key, keys.partition_key, keys.study_key,
                                series_key, instance_key, keys.watermark), values)

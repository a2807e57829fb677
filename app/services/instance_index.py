"""What the index keeps of an instance: validation of the indexed attributes (reference.md §3.4,
§8.3) and the index columns of its study, series and instance rows.

Used by the store (``services/store.py``) and by delete, which recomputes a study's "latest
wins" columns from what remains with ``index_columns``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Mapping

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..db import DbConn
from ..dicomweb import status
from ..dicomweb.collation import folded_column
from ..dicomweb.elements import first_value, uid_value
from ..dicomweb.identifiers import is_valid_uid
from ..dicomweb.tags import INDEXED_ATTRIBUTES, format_tag, person_name_words
from ..dicomweb.tags import keyword as keyword_of
from ..dicomweb.validation import ElementValidationError, lenient_problems, minimum_validate
from . import extended_query_tags

#: Required tags (reference.md §3.4), keyword -> tag, in the order they are checked.
REQUIRED = (("StudyInstanceUID", 0x0020000D), ("SeriesInstanceUID", 0x0020000E),
            ("SOPInstanceUID", 0x00080018), ("SOPClassUID", 0x00080016))
PATIENT_ID = 0x00100020
#: The warning of a v2 PatientID without a value (our text; the reference's is not known).
EMPTY_PATIENT_ID = ("Dicom element 'PatientID' failed validation for VR 'LO': Value is empty. "
                    "The instance is stored without a PatientID.")
#: The identifiers an instance is stored under: several values fail it (reference.md §3.4).
_SINGLE_VALUED = (0x0020000D, 0x0020000E, 0x00080018)
#: Column sizes of the index (values that do not fit are not indexed).
_COLUMN_SIZES = {"patient_id": 64, "patient_name": 200, "referring_physician_name": 200,
                 "study_date": 8, "study_time": 16, "study_description": 64,
                 "accession_number": 16, "patient_birth_date": 8, "study_id": 16, "modality": 16,
                 "performed_procedure_step_start_date": 8, "manufacturer_model_name": 64}
_INTEGER_COLUMNS = {"series_number", "instance_number"}
_INT32_MAX = 2 ** 31 - 1
#: INDEXED_ATTRIBUTES with their tags: (keyword, tag, level, column). Looking elements up by
#: tag avoids pydicom's keyword resolution on the hot path.
_INDEXED = tuple((keyword, Tag(tag_for_keyword(keyword)), level, column)
                 for keyword, (level, column) in INDEXED_ATTRIBUTES.items())
#: Indexed attributes whose several values give v2's Warning header too (v1: any of them).
_MULTIPLE_VALUES_V2 = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
                       "PatientID")


class Rejected(Exception):
    """An instance that cannot be stored: its failure reason and error comments, and whether
    an indexed attribute had several values (the Warning header, even for a failed one)."""

    def __init__(self, reason: int, comments: list[str] | None = None,
                 multiple_values: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.comments = reason, comments or []
        self.multiple_values = multiple_values


@dataclass
class Validated:
    """What validation leaves of an instance that can be stored."""

    #: Tags whose values must not be indexed or kept in the metadata (v2 warnings).
    dropped: set[int]
    #: Error comments of the v2 warnings.
    comments: list[str]
    #: DATASET_HAS_VALIDATION_WARNINGS when there are comments, else None.
    warning_reason: int | None
    #: An indexed attribute has several values (the Warning header).
    multiple_values: bool
    #: The extended query tags validated by (``extended_query_tags.index_instance``).
    tag_signature: str | None = None


def comment(tag: int, message: str) -> str:
    """An error comment of the FailedAttributesSequence."""
    return f"{status.ERROR_COMMENT_PREFIX}: {format_tag(tag)} - {message}"


def invalid_instance(reason: str) -> str:
    """The error comment of an instance that cannot be read: the reference's "The DICOM
    instance is invalid." and why."""
    return f"{status.ERROR_COMMENT_PREFIX}: The DICOM instance is invalid. {reason}"


def unreadable(exc: BaseException) -> str:
    """Why pydicom could not read a part, in one sentence."""
    if isinstance(exc, InvalidDicomError):
        return ("The part is not a DICOM PS3.10 file (no 128-byte preamble followed by "
                "'DICM').")
    if isinstance(exc, zlib.error):
        return "Its deflated data cannot be inflated."
    if isinstance(exc, RecursionError):
        return "Its sequences are nested too deeply."
    return "It cannot be read as DICOM."


def validate(conn: DbConn, ds: Dataset, elements: Mapping[int, DataElement], api_version: int,
             study_instance_uid: str | None, undecodable: Mapping[int, str],
             raw_patient_id: bytes | None = None) -> Validated:
    """Check required and indexed tags, and the extended query tags' values; raise Rejected
    for a failure.

    ``elements`` are the dataset's converted top-level elements (``convert_elements``), and
    ``undecodable`` those it could not convert: such an element fails the instance on v1 and
    is a warning on v2 (left out of the metadata and the index), like any other invalid value.
    ``study_instance_uid``: the study the request stores into, if any; ``raw_patient_id``:
    PatientID's value as read (``elements.raw_value``), for v1's check of NUL characters.
    """
    comments: list[str] = []
    multiple_values = False
    for name, tag in REQUIRED:
        elem = elements.get(tag)
        value = first_value(elem.value) if elem is not None else None
        if (tag in _SINGLE_VALUED and elem is not None and isinstance(elem.value, MultiValue)
                and len(elem.value) > 1):
            raise Rejected(status.VALIDATION_FAILURE, [comment(tag, str(ElementValidationError(
                name, "UI", "Value contains more than one value.")))], multiple_values=True)
        if value is None or str(value).strip("\x00 ") == "":
            raise Rejected(status.VALIDATION_FAILURE,
                           [comment(tag, f"The required tag '{format_tag(tag)}' is missing.")])
        if not is_valid_uid(str(value).rstrip("\x00")):
            raise Rejected(status.VALIDATION_FAILURE, [comment(
                tag, str(ElementValidationError(name, "UI", "DICOM Identifier is invalid. "
                                                "Value length should not exceed the maximum "
                                                "length of 64 characters. Value should contain "
                                                "characters in '0'-'9' and '.'. Each component "
                                                "must start with non-zero number.")))])
    patient_id = elements.get(PATIENT_ID)
    empty_patient_id = not str(first_value(patient_id.value) or "").strip(" \x00") \
        if patient_id is not None else True
    if patient_id is None or (api_version == 1 and empty_patient_id):
        raise Rejected(status.VALIDATION_FAILURE,
                       [comment(PATIENT_ID, "The required tag '(0010,0020)' is missing.")])
    _check_patient_id(patient_id, raw_patient_id, api_version)
    if empty_patient_id:  # v2: present without a value, a warning (reference.md §3.4)
        comments.append(comment(PATIENT_ID, EMPTY_PATIENT_ID))
    if study_instance_uid is not None:
        stored = uid_value(elements, 0x0020000D)
        if stored.lower() != study_instance_uid.rstrip(" ").lower():
            raise Rejected(status.VALIDATION_FAILURE, [comment(
                0x0020000D, "The StudyInstanceUid in the payload does not match the specified "
                "StudyInstanceUid.")])

    dropped: set[int] = set()
    for tag, vr in sorted(undecodable.items()):
        text = comment(tag, str(ElementValidationError(
            keyword_of(tag), vr, "Value cannot be decoded.")))
        if api_version == 1:
            raise Rejected(status.VALIDATION_FAILURE, [text])
        comments.append(text)
        dropped.add(tag)
    for keyword, tag, _, _ in _INDEXED:
        elem = elements.get(tag)
        if elem is None:
            continue
        if isinstance(elem.value, MultiValue) and len(elem.value) > 1:
            if api_version == 1 or keyword in _MULTIPLE_VALUES_V2:
                multiple_values = True
        try:
            minimum_validate(elem)
        except ElementValidationError as exc:
            if api_version == 1:
                raise Rejected(status.VALIDATION_FAILURE, [comment(elem.tag, str(exc))],
                               multiple_values) from None
            comments.append(comment(elem.tag, str(exc)))
            dropped.add(int(elem.tag))
    # Extended query tags (reference.md §8.3).
    problems, tags_multiple, tag_signature = extended_query_tags.validate_instance(conn, ds)
    if tags_multiple and api_version == 1:  # the v1 Warning header (reference.md §3.2)
        multiple_values = True
    for tag, message in problems:
        if api_version == 1:
            raise Rejected(status.VALIDATION_FAILURE, [comment(tag, message)], multiple_values)
        comments.append(comment(tag, message))
        dropped.add(tag)
    warning_reason = None
    if api_version >= 2:
        _add_lenient_problems(elements, comments, dropped)
        if comments:
            warning_reason = status.DATASET_HAS_VALIDATION_WARNINGS
    return Validated(dropped, comments, warning_reason, multiple_values, tag_signature)


def _check_patient_id(elem: DataElement, raw: bytes | None, api_version: int) -> None:
    """PatientID is validated strictly on every version (reference.md §3.4): v1 without trimming
    its NUL padding (``raw``: its value as read, before pydicom's trimming), v2 with it."""
    if api_version == 1 and raw is not None and b"\x00" in raw:
        raise Rejected(status.VALIDATION_FAILURE, [comment(PATIENT_ID, str(
            ElementValidationError("PatientID", "LO", "Value contains invalid character.")))])
    try:
        minimum_validate(elem)
    except ElementValidationError as exc:
        raise Rejected(status.VALIDATION_FAILURE, [comment(PATIENT_ID, str(exc))]) from None


def _add_lenient_problems(elements: Mapping[int, DataElement], comments: list[str],
                          dropped: set[int]) -> None:
    """v2: a warning (one per tag) for every other invalid value; a top-level element with
    one is dropped from the metadata."""
    seen = {c.split(" - ", 1)[0] for c in comments}
    for elem, reason in lenient_problems(elements.values()):
        if int(elem.tag) in dropped:
            continue
        text = comment(elem.tag, str(ElementValidationError(
            elem.keyword or format_tag(elem.tag), elem.VR, reason)))
        if text.split(" - ", 1)[0] in seen:
            continue
        seen.add(text.split(" - ", 1)[0])
        comments.append(text)
        if elements.get(int(elem.tag)) is elem:  # top-level: dropped from the metadata
            dropped.add(int(elem.tag))


def index_value(column: str, value: Any) -> Any:
    """The value of an index column: the first value, None when empty or too long for the
    column (or not an integer for an integer column)."""
    value = first_value(value)
    if value is None or value == "":
        return None
    if column in _INTEGER_COLUMNS:
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    text = str(value).rstrip("\x00").strip()
    if not text or "\x00" in text:
        return None
    if column in _COLUMN_SIZES and len(text) > _COLUMN_SIZES[column]:
        return None
    return text


def index_columns(elements: Mapping[int, DataElement] | Dataset, dropped: set[int]
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The study, series and instance index columns of an instance, from its elements by tag
    (or a Dataset), leaving out the ``dropped`` tags' values."""
    study: dict[str, Any] = {}
    series: dict[str, Any] = {}
    instance: dict[str, Any] = {}
    target = {"study": study, "series": series, "instance": instance}
    for _, tag, level, column in _INDEXED:
        elem = elements.get(tag)
        value = None
        if elem is not None and tag not in dropped:
            value = index_value(column, elem.value)
        target[level][column] = value
    study["study_instance_uid"] = uid_value(elements, 0x0020000D)
    series["series_instance_uid"] = uid_value(elements, 0x0020000E)
    study["patient_id"] = study.get("patient_id") or ""
    study["patient_name_words"] = person_name_words(study.get("patient_name"))
    study["referring_physician_name_words"] = person_name_words(
        study.get("referring_physician_name"))
    add_folded_columns(study, series)
    return study, series, instance


#: The folded twin of each string column (app/dicomweb/collation.py), by level, with its VR.
FOLDED = {"study": (("patient_id", "LO"), ("patient_name", "PN"),
                    ("referring_physician_name", "PN"), ("study_description", "LO"),
                    ("accession_number", "SH"), ("study_id", "SH")),
          "series": (("modality", "CS"), ("manufacturer_model_name", "LO"))}


def add_folded_columns(study: dict[str, Any], series: dict[str, Any]) -> None:
    """Set ``<column>_folded`` of the study and series string columns from their values."""
    for level, columns in (("study", study), ("series", series)):
        for column, vr in FOLDED[level]:
            columns[f"{column}_folded"] = folded_column(columns.get(column), vr,
                                                        _COLUMN_SIZES[column])


def number_of_frames(ds: Dataset, has_pixels: bool) -> int | None:
    """The NumberOfFrames column: the dataset's value, 1 for pixel data without a valid one
    (the column is a 32-bit INTEGER), None without pixel data."""
    frames = index_value("number_of_frames", ds.get("NumberOfFrames"))
    try:
        count = int(frames) if frames is not None else (1 if has_pixels else None)
    except ValueError:
        count = 1 if has_pixels else None
    if count is not None and not 0 <= count <= _INT32_MAX:
        count = 1 if has_pixels else None
    return count

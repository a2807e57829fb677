"""The workitem search query string -> WorkitemQuery (reference-2.md §1.9; decisions §6 extras).

Searchable attributes are a fixed table, as in the reference. Values are matched the way they
are indexed (``ups_dataset``): person names folded (case and accents ignored), other strings
case-insensitively, ProcedureStepState in upper case; wildcards and UID lists as in QIDO.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..errors import InvalidQueryStringError
from . import matching
from .query_params import (SeenFilters, _attribute_tag, check_filter_value, not_queryable,
                           parse_common, parse_include_fields)
from .tags import tag_path
from .collation import fold_name, fold_text
from .ups_dataset import DicomJson, first_text, name_words, start_datetime, tag_key, values

PATIENT_NAME, PATIENT_ID = "00100010", "00100020"
START_DATETIME, STATE, STUDY_UID = "00404005", "00741000", "0020000D"


@dataclass(frozen=True, slots=True)
class SearchKey:
    """A searchable attribute: the workitems column, or a sequence value path."""

    keyword: str
    vr: str
    column: str | None = None


#: Tag path -> searchable attribute (the reference's WorkitemQueryTag table).
SEARCH_KEYS: dict[str, SearchKey] = {
    PATIENT_NAME: SearchKey("PatientName", "PN", "patient_name"),
    PATIENT_ID: SearchKey("PatientID", "LO", "patient_id"),
    "0040A370.00080050": SearchKey("AccessionNumber", "SH"),
    "0040A370.00401001": SearchKey("RequestedProcedureID", "SH"),
    START_DATETIME: SearchKey("ScheduledProcedureStepStartDateTime", "DT",
                              "scheduled_start_datetime"),
    "00404025.00080100": SearchKey("CodeValue", "SH"),
    "00404026.00080100": SearchKey("CodeValue", "SH"),
    "00404027.00080100": SearchKey("CodeValue", "SH"),
    STATE: SearchKey("ProcedureStepState", "CS", "procedure_step_state"),
    STUDY_UID: SearchKey("StudyInstanceUID", "UI", "study_instance_uid"),
}
#: Sequence paths whose values are indexed in workitem_sequence_values.
SEQUENCE_PATHS = tuple(path for path, key in SEARCH_KEYS.items() if key.column is None)

#: Returned unless includefield=all (reference-2.md §1.9).
DEFAULT_RETURN_KEYS: tuple[str, ...] = tuple(tag_key(k) for k in (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "ScheduledProcedureStepPriority",
    "ProcedureStepLabel", "WorklistLabel", "ScheduledProcessingParametersSequence",
    "ScheduledStationNameCodeSequence", "ScheduledStationClassCodeSequence",
    "ScheduledStationGeographicLocationCodeSequence", "ScheduledHumanPerformersSequence",
    "ScheduledProcedureStepStartDateTime", "ScheduledWorkitemCodeSequence",
    "InputReadinessState", "InputInformationSequence", "StudyInstanceUID", "PatientName",
    "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDsSequence", "PatientBirthDate", "PatientSex", "AdmissionID",
    "IssuerOfAdmissionIDSequence", "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence", "ReferencedRequestSequence", "MedicalAlerts",
    "PregnancyStatus", "SpecialNeeds", "ProcedureStepState",
    "ProcedureStepProgressInformationSequence"))

_DT_FORMAT = "yyyyMMddHHmmss.FFFFFF where yyyy is mandatory"


@dataclass(frozen=True, slots=True)
class WorkitemFilter:
    """One filter: the searchable attribute's path, the attribute and the condition."""

    path: str
    key: SearchKey
    condition: matching.Condition


@dataclass
class WorkitemQuery:
    limit: int
    offset: int = 0
    include_all: bool = False
    return_keys: tuple[str, ...] = DEFAULT_RETURN_KEYS
    filters: list[WorkitemFilter] = field(default_factory=list)


def _path(key: str) -> str:
    parts = key.split(".")
    if len(parts) > 2:
        raise InvalidQueryStringError(
            f"Dicom element '{key}' failed validation for VR 'SQ': Nested Dicom sequence tags "
            "are currently not supported.")
    tags = [_attribute_tag(part) for part in parts]
    if any(tag is None for tag in tags):
        raise not_queryable(key)
    path = ".".join(tag_path(tag) for tag in tags)  # type: ignore[arg-type]
    if path not in SEARCH_KEYS:
        raise not_queryable(key)
    return path


def _condition(key: SearchKey, value: str, fuzzy: bool) -> matching.Condition:
    if key.vr == "UI":
        return matching.parse_value(key.keyword, "UI", value, False)
    if key.vr == "DT":
        return matching.parse_datetime(key.keyword, value, _DT_FORMAT, "DateTime")
    if set(value) == {"*"}:
        return matching.Universal()
    if key.vr == "PN":
        if fuzzy:
            words = tuple(fold_name(w) for w in matching.fuzzy_words(key.keyword, value))
            if words:
                return matching.Fuzzy(words)
        value = fold_name(value)
    else:
        value = value.upper() if key.column == "procedure_step_state" else fold_text(value)
    return matching.Wildcard(value) if matching.has_wildcard(value) else matching.Equal(value)


def parse_search(args: Iterable[tuple[str, str]], default_limit: int = 100,
                 max_limit: int = 200) -> WorkitemQuery:
    """Parse the query string pairs of a workitem search.

    Raises
    ------
    InvalidQueryStringError : with the reference's message for every invalid input
    """
    common = parse_common(args, default_limit, max_limit)
    query = WorkitemQuery(limit=common.limit, offset=common.offset)
    if any("." in item for raw in common.includes for item in raw.split(",")):
        raise InvalidQueryStringError("Sequential dicom tags are currently not supported.")
    query.include_all, include_tags = parse_include_fields(common.includes)
    extra: dict[str, None] = {f"{tag:08X}": None for tag in include_tags}
    seen = SeenFilters()
    for key, value in common.filters:
        path = _path(key)
        seen.add(key, path)
        search_key = SEARCH_KEYS[path]
        value = check_filter_value(key, value, search_key.vr == "UI")
        query.filters.append(WorkitemFilter(path, search_key,
                                            _condition(search_key, value, common.fuzzy)))
        extra.setdefault(path.split(".")[0], None)
    query.return_keys = tuple(dict.fromkeys((*DEFAULT_RETURN_KEYS, *extra)))
    return query


@dataclass(frozen=True, slots=True)
class SearchableValues:
    """What the index holds for a workitem, in the form searches compare."""

    procedure_step_state: str
    patient_name: str | None
    patient_name_words: str | None
    patient_id: str | None
    scheduled_start_datetime: str | None
    study_instance_uid: str | None
    #: (sequence path, lower-case value) for every item's value, and (PatientName's tag path,
    #: word) for every folded word of the name (fuzzy matching)
    sequence_values: tuple[tuple[str, str], ...]


MAX_INDEXED_LENGTH = 64


def _indexable(ds: DicomJson, key: str) -> str | None:
    """The first value as the index holds it: trailing NUL padding trimmed, as stored instances'
    values are; None for a value with a NUL inside, which PostgreSQL's text cannot hold and no
    query can match (a NUL in a filter value is a 400)."""
    value = first_text(ds, key)
    if value is None:
        return None
    value = value.rstrip(" \x00")
    return value if value and "\x00" not in value else None


def searchable_values(ds: DicomJson, state: str) -> SearchableValues:
    """The searchable values of a dataset (reference-2.md §1.9); values too long to index, or with
    a NUL character inside, are left out (they cannot match a valid query value anyway)."""
    name = _indexable(ds, PATIENT_NAME)
    patient_id = _indexable(ds, PATIENT_ID)
    study = _indexable(ds, STUDY_UID)
    words = name_words(name)
    pairs: dict[tuple[str, str], None] = {
        (PATIENT_NAME, word): None for word in (words or "").split()
        if len(word) <= MAX_INDEXED_LENGTH}
    for path in SEQUENCE_PATHS:
        sequence, attribute = path.split(".")
        for item in values(ds, sequence):
            value = _indexable(item, attribute) if isinstance(item, dict) else None
            if value and len(value) <= MAX_INDEXED_LENGTH:
                pairs.setdefault((path, fold_text(value)), None)
    return SearchableValues(
        procedure_step_state=state,
        patient_name=fold_name(name)[:400] if name else None,
        patient_name_words=(words or "")[:400] or None,
        patient_id=fold_text(patient_id)[:MAX_INDEXED_LENGTH] if patient_id else None,
        scheduled_start_datetime=start_datetime(_indexable(ds, START_DATETIME)),
        study_instance_uid=study if study and len(study) <= MAX_INDEXED_LENGTH else None,
        sequence_values=tuple(pairs))

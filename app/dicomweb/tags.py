"""Tags, keywords, paths and the core indexed attributes (reference.md §5.2, decisions §6)."""
from __future__ import annotations

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.tag import BaseTag, Tag

#: Index columns filled at store time: keyword -> (level, column). Levels: study/series/instance.
INDEXED_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "StudyInstanceUID": ("study", "study_instance_uid"),
    "PatientID": ("study", "patient_id"),
    "PatientName": ("study", "patient_name"),
    "ReferringPhysicianName": ("study", "referring_physician_name"),
    "StudyDate": ("study", "study_date"),
    "StudyTime": ("study", "study_time"),
    "StudyDescription": ("study", "study_description"),
    "AccessionNumber": ("study", "accession_number"),
    "PatientBirthDate": ("study", "patient_birth_date"),
    "StudyID": ("study", "study_id"),
    "SeriesInstanceUID": ("series", "series_instance_uid"),
    "Modality": ("series", "modality"),
    "PerformedProcedureStepStartDate": ("series", "performed_procedure_step_start_date"),
    "ManufacturerModelName": ("series", "manufacturer_model_name"),
    "SeriesNumber": ("series", "series_number"),
    "SOPInstanceUID": ("instance", "sop_instance_uid"),
    "SOPClassUID": ("instance", "sop_class_uid"),
    "InstanceNumber": ("instance", "instance_number"),
}

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


def format_tag(tag: int | BaseTag) -> str:
    """fo-dicom's ``(gggg,eeee)`` with lowercase hex, used in store error comments."""
    tag = Tag(tag)
    return f"({tag.group:04x},{tag.element:04x})"


def tag_path(tag: int | BaseTag) -> str:
    """Eight uppercase hex digits, the reference's tag "path"."""
    return f"{int(Tag(tag)):08X}"


def parse_tag(text: str) -> BaseTag | None:
    """A keyword (case-sensitive) or 8 hex digits; None if it is neither."""
    text = text.strip()
    if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        return Tag(int(text, 16))
    number = tag_for_keyword(text)
    return Tag(number) if number is not None else None


def keyword(tag: int | BaseTag) -> str:
    return keyword_for_tag(Tag(tag)) or tag_path(tag)


def vr_of(tag: int | BaseTag) -> str | None:
    try:
        return dictionary_VR(Tag(tag))
    except KeyError:
        return None


def person_name_words(value: str | None) -> str | None:
    """Lower-case words of a person name (``^`` and ``=`` separate words), for fuzzy matching."""
    if not value:
        return None
    words = value.replace("^", " ").replace("=", " ").lower().split()
    return " ".join(words) or None

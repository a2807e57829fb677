"""UID and partition-name rules (reference.md §2.4, §3.4; decisions §2, §4)."""
from __future__ import annotations

import re

from ..errors import InvalidIdentifierError

_UID = re.compile(r"[0-9.]*[0-9]")
_PARTITION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: The reference's names of the path UIDs, used in its messages.
STUDY = "StudyInstanceUid"
SERIES = "SeriesInstanceUid"
SOP = "SopInstanceUid"


def is_valid_uid(value: str | None) -> bool:
    """Digits and dots, ending with a digit, at most 64 characters, trailing spaces trimmed."""
    if value is None:
        return False
    value = value.rstrip(" ")
    return len(value) <= 64 and bool(_UID.fullmatch(value))


def uid_error_message(name: str) -> str:
    """The reference's message for an invalid UID."""
    return (f"Dicom element '{name}' failed validation for VR 'UI': DICOM Identifier is invalid. "
            "Value length should not exceed the maximum length of 64 characters. "
            "Value should contain characters in '0'-'9' and '.'. "
            "Each component must start with non-zero number.")


def validate_uid(value: str | None, name: str) -> str:
    """Return the UID (trailing spaces trimmed) or raise the reference's 400."""
    if not is_valid_uid(value):
        raise InvalidIdentifierError(uid_error_message(name))
    return value.rstrip(" ")  # type: ignore[union-attr]


def is_valid_partition_name(name: str | None) -> bool:
    """``^[A-Za-z0-9_.-]{1,64}$`` and not only dots (decisions §2)."""
    if name is None or not _PARTITION_NAME.fullmatch(name):
        return False
    return name.strip(".") != ""

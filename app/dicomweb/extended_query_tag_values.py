"""Extended query tag values: which table holds a VR, and how values are normalised.

Shared by the write side (indexing at store time and re-indexing) and the read side (QIDO), so
a value is written and searched in exactly the same form (reference.md §8.3, §5.3):

==========  ==================================  ================================================
table       VRs                                 stored ``tag_value``
==========  ==================================  ================================================
string      AE, AS, CS, LO, SH, UI              the value, trimmed
long        IS, SL, SS, UL, US                  integer (64-bit)
double      FL, FD                              float (finite)
datetime    DA, DT, TM                          DA ``YYYYMMDD``; DT ``YYYYMMDDHHMMSS.ffffff``
                                                (missing parts filled with their minimum);
                                                TM ``HHMMSS.ffffff``
person_name PN                                  the value as stored, plus ``tag_value_words``
==========  ==================================  ================================================

Every normaliser raises ``ValueError`` for a value it cannot represent.
"""
from __future__ import annotations

import math
import re
from datetime import date

from .numbers import parse_integer
from .tags import person_name_words

STRING, LONG, DOUBLE, DATETIME, PERSON_NAME = "string", "long", "double", "datetime", "person_name"

#: VR -> value table suffix (``extended_query_tag_<suffix>``).
VR_TABLES: dict[str, str] = {
    **{vr: STRING for vr in ("AE", "AS", "CS", "LO", "SH", "UI")},
    **{vr: LONG for vr in ("IS", "SL", "SS", "UL", "US")},
    **{vr: DOUBLE for vr in ("FL", "FD")},
    **{vr: DATETIME for vr in ("DA", "DT", "TM")},
    "PN": PERSON_NAME,
}

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_DA = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?")
_DT = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})"
                 r"(?:\.(\d{1,6}))?)?)?)?)?)?")
_OFFSET = re.compile(r"[+-]\d{4}$")


def value_table(vr: str) -> str:
    """The value table suffix of a VR; ``KeyError`` for a VR extended query tags cannot use."""
    return VR_TABLES[vr]


def table_name(vr: str) -> str:
    """The full name of the value table of a VR (a whitelisted identifier)."""
    return f"extended_query_tag_{value_table(vr)}"


def normalize_string(value: str) -> str:
    """String VRs: surrounding spaces (and NUL padding) removed."""
    text = str(value).strip(" \x00")
    if not text:
        raise ValueError("empty value")
    return text


def normalize_long(value: object) -> int:
    """IS/SL/SS/UL/US: a 64-bit integer (``0003`` and ``3`` are equal)."""
    number = parse_integer(str(value))
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("integer out of range")
    return number


def normalize_double(value: object) -> float:
    """FL/FD: a finite float."""
    number = float(str(value).strip())
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def normalize_date(value: str) -> str:
    """DA: ``YYYYMMDD`` of a real calendar date."""
    match = _DA.fullmatch(str(value).strip())
    if not match:
        raise ValueError("not a date")
    date(int(match.group(1)), int(match.group(2)), int(match.group(3)))  # raises if impossible
    return match.group(0)


def has_offset(value: str) -> bool:
    """True when a DT value carries a UTC offset (``&ZZXX``). ``-`` also separates a range, so
    ``YYYY-YYYY`` is a range; a ``-HHMM`` offset follows at least a full date and is at most
    -12:00 (``+HHMM`` at most +14:00)."""
    text = str(value).strip()
    match = _OFFSET.search(text)
    if not match:
        return False
    sign, hours, minutes = text[match.start()], int(text[-4:-2]), int(text[-2:])
    if sign == "+":
        return True
    return match.start() >= 8 and hours <= 12 and minutes <= 59


def normalize_datetime(value: str, upper: bool = False) -> str:
    """DT: ``YYYYMMDDHHMMSS.ffffff``, missing parts filled with their minimum (or, for the upper
    end of a range, their maximum). Offsets are not supported."""
    text = str(value).strip()
    match = _DT.fullmatch(text)
    if not match:
        raise ValueError("not a date-time")
    year, month, day, hour, minute, second, fraction = match.groups()
    if upper:
        month = month or "12"
        day = day or f"{_days_in_month(int(year), int(month)):02d}"
        hour, minute, second = hour or "23", minute or "59", second or "59"
        fraction = (fraction or "").ljust(6, "9")
    else:
        month, day = month or "01", day or "01"
        hour, minute, second = hour or "00", minute or "00", second or "00"
        fraction = (fraction or "").ljust(6, "0")
    date(int(year), int(month), int(day))
    _check_time(int(hour), int(minute), int(second))
    return f"{year}{month}{day}{hour}{minute}{second}.{fraction}"


def normalize_time(value: str, upper: bool = False) -> str:
    """TM: ``HHMMSS.ffffff``, missing parts filled with their minimum (or maximum for ``upper``).
    The ACR-NEMA form with colons is not accepted."""
    match = _TM.fullmatch(str(value).strip())
    if not match:
        raise ValueError("not a time")
    hour, minute, second, fraction = match.groups()
    fill = "59" if upper else "00"
    minute, second = minute or fill, second or fill
    fraction = (fraction or "").ljust(6, "9" if upper else "0")
    _check_time(int(hour), int(minute), int(second))
    return f"{hour}{minute}{second}.{fraction}"


def normalize_person_name(value: str) -> tuple[str, str | None]:
    """PN: the value as stored (trailing spaces removed) and its lower-case words."""
    text = str(value).rstrip(" \x00")
    if not text.strip():
        raise ValueError("empty value")
    return text, person_name_words(text)


def normalize(vr: str, value: object) -> object:
    """The stored ``tag_value`` of a value of this VR (PN: the name; see normalize_person_name)."""
    table = value_table(vr)
    if table == STRING:
        return normalize_string(str(value))
    if table == LONG:
        return normalize_long(value)
    if table == DOUBLE:
        return normalize_double(value)
    if vr == "DA":
        return normalize_date(str(value))
    if vr == "DT":
        if has_offset(str(value)):
            raise ValueError("offsets are not supported")
        return normalize_datetime(str(value))
    if vr == "TM":
        return normalize_time(str(value))
    return normalize_person_name(str(value))[0]


def _check_time(hour: int, minute: int, second: int) -> None:
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("not a time")


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days

"""QIDO matching types (PS3.4 C.2.2.2) and the parsing of one filter value into a condition.

Conditions are plain data; ``app/dao/query.py`` turns them into SQL. Messages are the
reference's (reference.md §5.4) where it has one.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidQueryStringError
from .collation import fold
from .extended_query_tag_values import (has_offset, normalize_date, normalize_datetime,
                                        normalize_double, normalize_long, normalize_time)

INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US", "SV", "UV"})
FLOAT_VRS = frozenset({"FL", "FD", "DS"})
#: Separators of a list of UIDs (PS3.4 C.2.2.2.2 uses ``\``; PS3.18 also allows ``,``).
_LIST_SEPARATORS = (",", "\\")

RANGE_BOTH_EMPTY = (
    "Invalid query: specified range is invalid.\nBoth parts in the range cannot be empty.\n"
    "For details on valid range queries, please refer to Search Matching section in "
    "Conformance Statement (https://github.com/microsoft/dicom-server/blob/main/docs/resources/"
    "conformance-statement.md#search-matching).")


@dataclass(frozen=True, slots=True)
class Equal:
    """Single value matching (string values folded: ``collation``)."""

    value: object


@dataclass(frozen=True, slots=True)
class InList:
    """List of UID matching (any of the values)."""

    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Wildcard:
    """Wild card matching: ``*`` any run of characters, ``?`` any one character (the pattern
    folded as the attribute's values: ``collation``)."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Range:
    """Range matching, inclusive; an open end is None."""

    lower: object | None
    upper: object | None


@dataclass(frozen=True, slots=True)
class Fuzzy:
    """Fuzzy person-name matching: every word is a prefix of some word of the name."""

    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Universal:
    """Universal matching (PS3.4 C.2.2.2.3): a value of only ``*`` matches every entity, also
    those without a value for the attribute."""


Condition = Equal | InList | Wildcard | Range | Fuzzy | Universal


def split_list(value: str) -> tuple[str, ...]:
    """The non-empty items of a ``,``- or ``\\``-separated list, trimmed, in order, unique."""
    items = [value]
    for separator in _LIST_SEPARATORS:
        items = [part for item in items for part in item.split(separator)]
    seen: dict[str, None] = {}
    for item in items:
        if item.strip():
            seen.setdefault(item.strip(), None)
    return tuple(seen)


def has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def fuzzy_words(name: str, value: str) -> tuple[str, ...]:
    """The lower-case words of a fuzzy PN value (``^``, ``=`` and spaces separate words)."""
    if '"' in value:
        raise InvalidQueryStringError(
            f"Invalid query: specified tag '{name}' value '{value}' contains unsupported "
            "character '\"'. Character is not supported with Fuzzy match, try exact match or "
            "removing the invalid character. ")
    words = value.replace("^", " ").replace("=", " ").replace("*", " ").lower().split()
    return tuple(dict.fromkeys(words))


def _range_parts(value: str) -> tuple[str, str] | None:
    if "-" not in value:
        return None
    if value.count("-") > 1:
        return None
    lower, upper = value.split("-")
    if not lower.strip() and not upper.strip():
        raise InvalidQueryStringError(RANGE_BOTH_EMPTY)
    return lower.strip(), upper.strip()


def _bad_date(value: str, name: str) -> InvalidQueryStringError:
    return InvalidQueryStringError(
        f"Invalid query: specified Date value '{value}' is invalid for attribute '{name}'. "
        "Date should be valid and formatted as yyyyMMdd.")


def _reversed(value: str, lower: str, upper: str, word: str = "date") -> InvalidQueryStringError:
    return InvalidQueryStringError(
        f"Invalid query: specified date range '{value}' is invalid.\nThe first part {word} "
        f"{lower} should be lesser than or equal to the second part {word} {upper}.")


def parse_date(name: str, value: str) -> Condition:
    """DA: ``yyyyMMdd`` or an inclusive range ``a-b``, ``a-``, ``-b``."""
    def one(text: str) -> str:
        try:
            return normalize_date(text)
        except ValueError:
            raise _bad_date(text, name) from None
    parts = _range_parts(value)
    if parts is None:
        return Equal(one(value))
    lower = one(parts[0]) if parts[0] else None
    upper = one(parts[1]) if parts[1] else None
    if lower and upper and lower > upper:
        raise _reversed(value, parts[0], parts[1])
    return Range(lower, upper)


def parse_time(name: str, value: str) -> Condition:
    """TM: ``HH[MM[SS[.F{1,6}]]]`` or a range; a single value matches the whole period it names
    (``1012`` matches 10:12:00 to 10:12:59.999999)."""
    def bound(text: str, upper: bool) -> str:
        try:
            return normalize_time(text, upper=upper)
        except ValueError:
            raise InvalidQueryStringError(
                f"Invalid query: specified Time value '{text}' is invalid for attribute "
                f"'{name}'. Time should be valid and formatted as HHmmss.FFFFFF.") from None
    parts = _range_parts(value)
    if parts is None:
        return Range(_trim_fraction(bound(value, False)), bound(value, True))
    lower = _trim_fraction(bound(parts[0], False)) if parts[0] else None
    upper = bound(parts[1], True) if parts[1] else None
    if lower and upper and lower > upper:
        raise InvalidQueryStringError(
            f"Invalid query: specified time range '{value}' is invalid.\nThe first part time "
            f"{parts[0]} should be lesser than or equal to the second part time {parts[1]}.")
    return Range(lower, upper)


def _trim_fraction(lower: str) -> str:
    """A lower bound without an all-zero fraction, so ``101200`` (stored as such) matches."""
    return lower[:6] if lower.endswith(".000000") else lower


def parse_datetime(name: str, value: str, format_text: str = "yyyyMMddHHmmss.FFFFFF",
                   range_word: str = "date") -> Condition:
    """DT (extended query tags): ``yyyy[MM[dd[HH[mm[ss[.F]]]]]]`` or a range; no offsets.

    ``format_text`` and ``range_word`` complete the messages (workitem searches word them
    differently, reference-2.md §1.9)."""
    def bound(text: str, upper: bool) -> str:
        if has_offset(text):
            raise InvalidQueryStringError(
                f"Invalid query: specified DateTime value '{text}' for attribute {name} contains "
                "offset which is not supported.")
        try:
            return normalize_datetime(text, upper=upper)
        except ValueError:
            raise InvalidQueryStringError(
                f"Invalid query: specified DateTime value '{text}' is invalid for attribute "
                f"'{name}'. DateTime should be valid and formatted as {format_text}.") from None
    if has_offset(value):
        bound(value, False)
    parts = _range_parts(value)
    if parts is None:
        return Equal(bound(value, False))
    lower = bound(parts[0], False) if parts[0] else None
    upper = bound(parts[1], True) if parts[1] else None
    if lower and upper and lower > upper:
        raise _reversed(value, parts[0], parts[1], range_word)
    return Range(lower, upper)


def parse_value(name: str, vr: str, value: str, fuzzy: bool, extended_path: str | None = None
                ) -> Condition:
    """The condition of one filter value of this VR; string values folded as the VR's values
    compare (``collation``: PN case- and accent-insensitive, other strings case-insensitive).

    ``name`` is the attribute's keyword (used in messages); ``extended_path`` is the tag path
    of an extended query tag (its numeric messages name the path).
    """
    if vr == "UI":
        values = split_list(value)
        return Equal(values[0]) if len(values) == 1 else InList(values)
    if vr == "DA":
        return parse_date(name, value)
    if vr == "TM":
        return parse_time(name, value)
    if vr == "DT":
        return parse_datetime(name, value)
    if vr in INTEGER_VRS:
        try:
            return Equal(normalize_long(value))
        except ValueError:
            raise InvalidQueryStringError(
                f"Invalid query: specified value '{value}' extended query tag with path "
                f"'{extended_path or name}' is not a valid long value.") from None
    if vr in FLOAT_VRS:
        try:
            return Equal(normalize_double(value))
        except ValueError:
            raise InvalidQueryStringError(
                f"Invalid query: specified value '{value}' extended query tag with path "
                f"'{extended_path or name}' is not a valid double value.") from None
    if vr in WILDCARD_VRS and set(value) == {"*"}:
        return Universal()
    if vr == "PN" and fuzzy:
        words = fuzzy_words(name, value)
        if words:
            return Fuzzy(words)
    value = fold(vr, value)  # compared with the attribute's folded column
    return Wildcard(value) if has_wildcard(value) else Equal(value)


#: String VRs on which ``*`` and ``?`` are wildcards (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})


def like_escape(text: str) -> str:
    """Escape LIKE metacharacters (``\\``, ``%``, ``_``) with a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(pattern: str) -> str:
    """A DICOM wildcard value as a LIKE pattern (escape character ``\\``)."""
    return "".join("%" if c == "*" else "_" if c == "?" else like_escape(c) for c in pattern)


def glob_pattern(pattern: str) -> str:
    """A DICOM wildcard value as an SQLite GLOB pattern (case-sensitive)."""
    out = []
    for c in pattern:
        if c in "*?":
            out.append(c)
        elif c == "[":
            out.append("[[]")
        else:
            out.append(c)
    return "".join(out)


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (code points)."""
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return prefix + "\U0010FFFF"
    following = ord(last) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be encoded
        following = 0xE000
    return prefix[:-1] + chr(following)

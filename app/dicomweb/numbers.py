"""Integers in query values, parsed as the reference's .NET Int32/Int64 binding does: ASCII
digits with an optional sign and surrounding white space. Python's ``int()`` also accepts
``1_000`` and non-ASCII digits (``١``, full-width ``１``), which the reference rejects.

The reference's model-binding errors for integer and bool parameters are built here, once, for the
views, the change feed and QIDO."""
from __future__ import annotations

import re

from ..errors import InvalidQueryStringError

_INTEGER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")
INT32_MAX = 2 ** 31 - 1
INT64_MAX = 2 ** 63 - 1


def parse_integer(text: str) -> int:
    """The integer ``text`` denotes; ValueError unless it is an ASCII integer."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def binding_error(key: str, message: str) -> InvalidQueryStringError:
    """The reference's 400 for a query parameter that does not bind."""
    return InvalidQueryStringError(f"The query parameter '{key}' is invalid. {message}")


def _empty_value(key: str, raw: str) -> None:
    """ASP.NET binds an empty or white-space value of a non-nullable int or bool as null and
    reports "The value '' is invalid." (``ValueMustNotBeNullAccessor``), not the parse error."""
    if not raw.strip():
        raise binding_error(key, f"The value '{raw}' is invalid.")


def bounded_integer(key: str, raw: str, minimum: int, maximum: int,
                    type_max: int = INT32_MAX) -> int:
    """``raw`` as an integer in [minimum, maximum]. Empty: "The value '' is invalid."; not an
    integer (or beyond the .NET type whose largest value is ``type_max``: Int32 unless said):
    "The value ... is not valid for {key}."; out of range: "The field {key} must be between
    ...". All name the parameter as ``key``."""
    _empty_value(key, raw)
    try:
        value = parse_integer(raw)
    except ValueError:
        value = None
    if value is None or not -type_max - 1 <= value <= type_max:
        raise binding_error(key, f"The value '{raw}' is not valid for {key}.")
    if not minimum <= value <= maximum:
        raise binding_error(key, f"The field {key} must be between {minimum} and {maximum}.")
    return value


def int32(key: str, text: str) -> int:
    """``text`` as an Int32 route value (frame numbers); its magnitude at most INT32_MAX."""
    try:
        value = parse_integer(text)
    except ValueError:
        value = None
    if value is None or abs(value) > INT32_MAX:
        raise binding_error(key, f"Unable to parse value '{text}' as Int32.")
    return value


def boolean_value(key: str, raw: str) -> bool:
    """``raw`` as a .NET bool (true/false in any case, spaces around allowed), else the
    reference's binding 400 naming the parameter as ``key``."""
    _empty_value(key, raw)
    text = raw.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise binding_error(key, f"The value '{raw}' is not valid for {key}.")

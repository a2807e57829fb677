"""Integers in query values, parsed as the reference's .NET Int32/Int64 binding does: ASCII
digits with an optional sign and surrounding white space. Python's ``int()`` also accepts
``1_000`` and non-ASCII digits (``١``, full-width ``１``), which the reference rejects."""
from __future__ import annotations

import re

_INTEGER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")


def parse_integer(text: str) -> int:
    """The integer ``text`` denotes; ValueError unless it is an ASCII integer."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)

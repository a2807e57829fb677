"""JSON request bodies read as the reference's System.Text.Json options read them
(reference.md §0.2): one trailing comma after the last element of an array or object is
allowed (``[{"path": "00101010", "level": "Study"},]``); everything else is plain JSON."""
from __future__ import annotations

import json
import re
from typing import Any

#: A string (skipped whole, so commas inside it stay) or a comma before a closing bracket.
#: Possessive and with an optional closing quote, so a scan never backtracks and never starts
#: again inside a string: linear in the body's length whatever it holds (an unterminated
#: string with escaped quotes made the plain form quadratic: 48 KB took 5 s).
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"?|,(?=[ \t\r\n]*+[\]}])', re.S)
_MAYBE_TRAILING = re.compile(rb",[ \t\r\n]*[\]}]")
#: The last character of a value: a string, a number, true/false/null, an array or object.
_VALUE_ENDS = frozenset('"0123456789el]}')


def loads_request_json(data: bytes) -> Any:
    """``data`` parsed as JSON, a trailing comma allowed; ValueError (or UnicodeDecodeError)
    when it is not JSON."""
    if not _MAYBE_TRAILING.search(data):
        return json.loads(data)
    text = data.decode("utf-8")

    def drop_trailing_comma(match: re.Match[str]) -> str:
        token = match.group()
        if token != ",":
            return token
        end = match.start() - 1
        while end >= 0 and text[end] in " \t\r\n":
            end -= 1
        # ``[,]`` and ``[1,,]`` stay invalid: only a comma after a value is a trailing one
        return "" if end >= 0 and text[end] in _VALUE_ENDS else token

    return json.loads(_TOKENS.sub(drop_trailing_comma, text))

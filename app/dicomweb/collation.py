"""How string values compare in searches (reference.md §5.3, decisions §6 "QIDO").

The reference's database collations, reproduced in Python so SQLite and PostgreSQL behave the
same without ICU or ``unaccent``: person names (PN) compare case- and accent-insensitively,
every other string case-insensitively but accent-sensitively. The index stores each searchable
string a second time in its folded form (``<column>_folded``, ``tag_value_folded``); a query
value is folded the same way and compared with ``=`` or a wildcard pattern on that column, so an
ordinary index serves it. Results show the stored original values.

Folding is ``str.lower()`` (not ``casefold()``: the workitems index holds ``lower()`` values since
issue #18, and ``ß`` stays ``ß``); person names are first decomposed (NFKD) and stripped of
combining marks. A folded value is at most ``FOLDED_LENGTH_FACTOR`` times its column's length
(NFKD can lengthen a value); longer ones are cut, which only pathological values reach.
"""
from __future__ import annotations

import unicodedata

#: A folded column is this many times as long as the column it folds.
FOLDED_LENGTH_FACTOR = 2


def fold_text(value: str) -> str:
    """A string as case-insensitive, accent-sensitive matching compares it."""
    return value.lower()


def fold_name(value: str) -> str:
    """A person name as case- and accent-insensitive matching compares it."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold(vr: str, value: str) -> str:
    """``value`` folded as a value of ``vr`` compares (PN: ``fold_name``, else ``fold_text``)."""
    return fold_name(value) if vr == "PN" else fold_text(value)


def folded_column(value: str | None, vr: str, size: int) -> str | None:
    """The folded column of a stored value whose column holds ``size`` characters (None for
    None)."""
    if value is None:
        return None
    return fold(vr, value)[:size * FOLDED_LENGTH_FACTOR]

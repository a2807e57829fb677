"""String folding for matching (app/dicomweb/collation.py, issue #21 item 6)."""
from __future__ import annotations

from app.dicomweb.collation import fold, fold_name, fold_text, folded_column


def test_person_names_lose_case_and_accents_other_strings_only_case():
    assert fold_name("Tá^Zoë=Ñandú") == "ta^zoe=nandu"
    assert fold_name("ÅNGSTRÖM") == fold_name("angstrom") == "angstrom"
    assert fold_text("Crâne ÉCHO") == "crâne écho"
    assert fold("PN", "Élan") == "elan" and fold("LO", "Élan") == "élan"
    assert fold_text("Straße") == "straße"  # lower(), not casefold()


def test_folded_column_keeps_none_and_caps_the_length():
    assert folded_column(None, "PN", 10) is None
    assert folded_column("", "LO", 10) == ""
    assert folded_column("ﬁ" * 64, "PN", 64) == "fi" * 64  # NFKD doubles it: within 2x
    assert len(folded_column("\ufdfa" * 10, "PN", 10)) == 20  # one code point becomes 18

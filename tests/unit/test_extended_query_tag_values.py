"""Value normalisation of extended query tags (issue #7): VR -> table and stored form."""
from __future__ import annotations

import pytest

from app.services.extended_query_tag_values import normalize_value


@pytest.mark.parametrize("vr,value,expected", [
    ("CS", " ABC  ", ("string", ("ABC", "abc"))),
    ("LO", "Crâne", ("string", ("Crâne", "crâne"))),  # strings keep their accents
    ("UI", "1.2.3\x00", ("string", ("1.2.3", "1.2.3"))),
    ("IS", " 0003 ", ("long", (3,))),
    ("US", 512, ("long", (512,))),
    ("FD", 1.5, ("double", (1.5,))),
    ("DA", "20240315", ("datetime", ("20240315",))),
    ("DT", "2024", ("datetime", ("20240101000000.000000",))),
    ("DT", "202403151011", ("datetime", ("20240315101100.000000",))),
    ("DT", "20240315101112.5+0100", ("datetime", ("20240315101112.500000",))),
    ("TM", "1011", ("datetime", ("101100.000000",))),
    ("TM", "101112.123", ("datetime", ("101112.123000",))),
    ("PN", "Doe^John=Ideo", ("person_name", ("Doe^John=Ideo", "doe john ideo",
                                             "doe^john=ideo"))),
    ("PN", "Müller^José", ("person_name", ("Müller^José", "müller josé", "muller^jose"))),
])
def test_normalize_value_maps_vr_to_table_and_form(vr, value, expected):
    assert normalize_value(vr, value) == expected


@pytest.mark.parametrize("vr,value", [
    ("IS", "abc"), ("IS", str(2 ** 63)), ("FD", float("nan")), ("DA", "2024031"),
    ("DT", "20241"), ("TM", "1"), ("LO", "x" * 65), ("DA", "20240230"),
])
def test_normalize_value_invalid_raises_value_error(vr, value):
    with pytest.raises(ValueError):
        normalize_value(vr, value)

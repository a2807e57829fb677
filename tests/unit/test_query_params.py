"""QIDO query-string parsing, matching helpers and extended query tag value normalisation."""
from __future__ import annotations

import pytest

from app.dicomweb import extended_query_tag_values, matching
from app.dicomweb.query_params import (RESOURCES, ExtendedQueryTagDefinition,
                                       parse_include_fields, parse_query)
from app.errors import InvalidQueryStringError

NO_TAGS: dict = {}


def parse(query: list[tuple[str, str]], resource: str = "studies", tags=None):
    return parse_query(query, RESOURCES[resource], lambda: tags or NO_TAGS)


def test_parse_query_reserved_names_are_case_insensitive_and_first_wins():
    params = parse([("LIMIT", "5"), ("limit", "7"), ("Offset", "3"), ("FuzzyMatching", "TRUE")])
    assert (params.limit, params.offset, params.fuzzy) == (5, 3, True)
    assert parse([]).limit == 100


def test_parse_query_filters_keyword_and_hex_with_conditions():
    params = parse([("00100010", " Doe* "), ("StudyDate", "20240101-"),
                    ("StudyInstanceUID", "1.2,1.3\\1.2")], "series")
    conditions = [f.condition for f in params.filters]
    assert conditions == [matching.Wildcard("doe*"), matching.Range("20240101", None),
                          matching.InList(("1.2", "1.3"))]


def test_parse_query_folds_values_as_the_collations_compare():
    params = parse([("PatientName", "TÁ?s*"), ("PatientID", "ÁbC"),
                    ("ModalitiesInStudy", "ct,CT\\Mr")])
    assert [f.condition for f in params.filters] == [
        matching.Wildcard("ta?s*"),  # PN: case and accents
        matching.Equal("ábc"),  # other strings: case only
        matching.InList(("ct", "mr"))]


def test_parse_query_fuzzy_words():
    params = parse([("fuzzymatching", "true"), ("PatientName", "Jo^DOE jo")])
    assert params.filters[0].condition == matching.Fuzzy(("jo", "doe"))


def test_parse_include_fields_all_and_tags():
    assert parse_include_fields(["all"]) == (True, ())
    assert parse_include_fields(["PatientAge,00100040", "", "PatientAge"]) == (
        False, (0x00101010, 0x00100040))
    with pytest.raises(InvalidQueryStringError):
        parse_include_fields(["all", "PatientAge"])


def test_parse_query_extended_tag_levels():
    tag = ExtendedQueryTagDefinition(1, "00101010", "AS", None, 1, 1, 1, 0)
    tags = {"00101010": tag}
    assert parse([("PatientAge", "045Y")], "series", tags).filters[0].tag.extended == tag
    with pytest.raises(InvalidQueryStringError, match="is not queryable"):
        parse([("PatientAge", "045Y")], "studies", tags)


@pytest.mark.parametrize("value,expected", [
    ("a*b?c", "a%b_c"), ("50%", "50\\%"), ("a_b", "a\\_b"), ("a\\b", "a\\\\b")])
def test_like_pattern_escapes_metacharacters(value, expected):
    assert matching.like_pattern(value) == expected


def test_glob_pattern_and_prefix_bound():
    assert matching.glob_pattern("[a]*?") == "[[]a]*?"
    assert matching.prefix_upper_bound("jo") == "jp"
    assert matching.prefix_upper_bound("a\ud7ff") == "a\ue000"


def test_extended_query_tag_values_normalisation():
    values = extended_query_tag_values
    assert values.value_table("UI") == "string"
    assert values.normalize("IS", " 0003 ") == 3
    assert values.normalize("DT", "2024") == "20240101000000.000000"
    assert values.normalize_datetime("202402", upper=True) == "20240229235959.999999"
    assert values.normalize("TM", "1015") == "101500.000000"
    assert values.normalize_person_name("Doe^John=X ") == ("Doe^John=X", "doe john x")
    assert values.has_offset("20240101-0500") and not values.has_offset("2023-2024")
    for vr, bad in (("IS", "9" * 30), ("FD", "inf"), ("DA", "20240230"), ("TM", "2500")):
        with pytest.raises(ValueError):
            values.normalize(vr, bad)

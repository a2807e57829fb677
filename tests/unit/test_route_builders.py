"""The suite's URL-builder cache (tests/route_builders.py) changes nothing an app builds: every
rule of two apps (partitions off and on), built with and without unknown arguments, gives what
a builder compiled afresh for that rule gives; and the cache is in use."""
from __future__ import annotations

import pytest
from werkzeug.routing.rules import Rule

from tests import route_builders


def _values(rule: Rule) -> dict[str, str]:
    return {name: f"{name}-1.2/ä b" for name in rule.arguments}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cached_builders_build_what_fresh_ones_do(make_app):
    assert Rule._compile_builder is route_builders._cached_compile_builder  # installed
    apps = [make_app(ENABLE_DATA_PARTITIONS=False), make_app(ENABLE_DATA_PARTITIONS=True)]
    checked = 0
    for app in apps:
        for rule in app.url_map.iter_rules():
            values = _values(rule)
            assert rule._build(**values) == route_builders.compile_uncached(rule, False)(
                **values), rule.rule
            extra = {**values, "limit": "5", "q": "x y"}
            assert rule._build_unknown(**extra) == route_builders.compile_uncached(rule, True)(
                **extra), rule.rule
            checked += 1
    assert checked > 300
    # The second app's rules reuse the first app's builders (that is the saving).
    first, second = ({rule.rule: rule for rule in app.url_map.iter_rules()} for app in apps)
    shared = set(first) & set(second)
    assert shared and all(first[name]._build.__func__ is second[name]._build.__func__
                          for name in shared)


def test_rules_with_defaults_are_compiled_for_themselves():
    """A default's value is folded into the builder's code: such rules bypass the cache."""
    from werkzeug.routing import Map

    one = Rule("/page/<int:n>", endpoint="a", defaults={"n": 1})
    two = Rule("/page/<int:n>", endpoint="b", defaults={"n": 2})
    Map([one, two])
    assert one._build.__func__ is not two._build.__func__
    assert one.build({}) != two.build({})

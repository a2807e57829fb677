"""Test speed only: every test builds a fresh app, and werkzeug compiles a URL builder (Python
source generated, parsed and compiled) for each of the app's ~330 rules, twice: about 0.15 s
of every ``create_app`` on this machine, most of the suite's setup. The builder's code depends
only on the rule's text and parsed parts (``_trace``) when the rule has no defaults: it reaches
the rule's converters through its ``self`` argument at call time. So a builder compiled for one
app's rule serves the same rule of the next app unchanged; rules with defaults (their values
are folded into the code) are compiled as before.

``install()`` wraps werkzeug's ``Rule._compile_builder`` with that cache; it leaves werkzeug
alone when its internals are not the expected ones (the suite is then slower, not wrong).
``tests/unit/test_route_builders.py`` checks that cached builders build what fresh ones do.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from werkzeug.routing.rules import Rule

_cache: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}
_original = Rule._compile_builder


def _expected_internals() -> bool:
    parameters = list(inspect.signature(_original).parameters)
    return parameters == ["self", "append_unknown"] and hasattr(Rule, "compile")


def _cached_compile_builder(self: Rule, append_unknown: bool = True
                            ) -> Callable[..., tuple[str, str]]:
    if self.defaults:
        return _original(self, append_unknown)
    key = (self.rule, tuple(self._trace), append_unknown)
    builder = _cache.get(key)
    if builder is None:
        builder = _cache[key] = _original(self, append_unknown)
    return builder


def install() -> bool:
    """Cache rule builders across apps in this process; False if werkzeug's internals differ."""
    if not _expected_internals():
        return False
    Rule._compile_builder = _cached_compile_builder  # type: ignore[method-assign]
    return True


def compile_uncached(rule: Rule, append_unknown: bool) -> Callable[..., tuple[str, str]]:
    """A builder compiled afresh for ``rule`` (the comparison in the tests)."""
    return _original(rule, append_unknown).__get__(rule, None)

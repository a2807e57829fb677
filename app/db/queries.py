"""Named SQL from ``sql/queries/common``; ``sql/queries/<dialect>`` overrides by name (aiosql)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import aiosql

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"


class Queries:
    """All named queries of one dialect."""

    def __init__(self, dialect: str, driver: str, root: Path = SQL_ROOT / "queries") -> None:
        self.dialect = dialect
        self._common = aiosql.from_path(root / "common", driver)
        self._own = aiosql.from_path(root / dialect, driver)
        self._found: dict[str, Callable[..., Any]] = {}  # name -> query, once looked up

    @property
    def names(self) -> set[str]:
        """Names of every available query (common and dialect-specific)."""
        return set(self._common.available_queries) | set(self._own.available_queries)

    def get(self, name: str) -> Callable[..., Any]:
        query = self._found.get(name)
        if query is None:  # aiosql's available_queries sorts every name on each call
            source = self._own if name in self._own.available_queries else self._common
            query = self._found[name] = getattr(source, name)
        return query

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return self.get(name)


@lru_cache(maxsize=None)
def load_queries(dialect: str, driver: str) -> Queries:
    """Load (once per process) the queries of a dialect."""
    return Queries(dialect, driver)

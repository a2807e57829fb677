"""QIDO-RS search SQL: the documented dynamic builders of app/dao (style.md §3.7).

A search's WHERE clause depends on its filters, and its page queries on the page's keys, so
this module builds SQL text at run time, from whitelisted columns and ``?`` parameters only;
every other query of the application is a named query in sql/queries.

One SELECT per search: the rows of the result level, joined to their series and study, filtered
inside one partition (or, searching across partitions, inside the listed ones: ``partition_key
IN (...)`` keeps every partition-led index usable), visible instances only, newest first, one
page. Then, for that page only: instance counts and newest watermarks, modalities, and stored
metadata JSON. Keys and watermarks are unique across partitions, so the order is total.

String attributes are compared on their folded columns (``<column>_folded``,
``tag_value_folded``: app/dicomweb/collation.py) with values folded the same way, so matching
is case-insensitive (PN also accent-insensitive) on both databases and uses plain indexes. The
wildcard comparison comes from the engine (app/db/engines): PostgreSQL ``LIKE`` with backslash
escapes, SQLite ``GLOB`` (its LIKE ignores ASCII case; GLOB does not, like the folded values).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..db import DbConn
from ..db.engines import Engine
from ..dicomweb import matching
from ..dicomweb.extended_query_tag_values import table_name
from ..dicomweb.query_params import (INSTANCE, MODALITIES_IN_STUDY, SERIES, STUDY, Filter,
                                     QueryParams, ExtendedQueryTagDefinition)
from ..dicomweb.tags import person_name_words

STATUS_CREATED = 1
#: study_name_words.name_kind per fuzzy-searchable study column.
NAME_KINDS = {"patient_name": 0, "referring_physician_name": 1}
#: String columns with a folded twin (``<column>_folded``, app/dicomweb/collation.py), and the
#: extended query tag value tables with ``tag_value_folded``; conditions that compare it.
FOLDED_COLUMNS = frozenset({"patient_id", "patient_name", "referring_physician_name",
                            "study_description", "accession_number", "study_id", "modality",
                            "manufacturer_model_name"})
FOLDED_TABLES = frozenset({"extended_query_tag_string", "extended_query_tag_person_name"})
_FOLDED_CONDITIONS = (matching.Equal, matching.Wildcard)
_ALIASES = {STUDY: "st", SERIES: "se", INSTANCE: "i"}
_KEYS = {STUDY: "study_key", SERIES: "series_key", INSTANCE: "instance_key"}

STUDY_COLUMNS = ("study_key", "partition_key", "study_instance_uid", "patient_id", "patient_name",
                 "referring_physician_name", "study_date", "study_time", "study_description",
                 "accession_number", "patient_birth_date", "study_id")
SERIES_COLUMNS = ("series_key", "series_instance_uid", "modality",
                  "performed_procedure_step_start_date", "manufacturer_model_name",
                  "series_number")
INSTANCE_COLUMNS = ("instance_key", "watermark", "sop_instance_uid", "sop_class_uid",
                    "instance_number")


@dataclass(frozen=True, slots=True)
class PathUids:
    """UIDs from the resource path (already validated)."""

    study_instance_uid: str | None = None
    series_instance_uid: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionNamed:
    """The partition searched, by the name the request gave: the search's statement finds its
    key by name (no lookup before it) and returns its stored name as ``partition_name``."""

    name: str


#: The partitions searched: their keys, or one partition by name.
Partitions = Sequence[int] | PartitionNamed
#: A partition's key (NULL if there is none) and stored name, by name, as get_partition finds it.
_BY_NAME = ("(SELECT partition_{0} FROM partitions"
            " WHERE lower(partition_name) = lower(?) AND status <> 2)")


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts over the visible instances of one study or series, and its newest watermark."""

    instances: int
    series: int
    max_watermark: int


class _Sql:
    """WHERE fragments and their parameters, in order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.where: list[str] = []
        self.params: list[Any] = []

    def add(self, fragment: str, *params: Any) -> None:
        self.where.append(fragment)
        self.params.extend(params)

    def in_partitions(self, column: str, partition_keys: Partitions) -> None:
        """``column = ?`` for one partition, ``column IN (...)`` for several."""
        self.add(*_partition_condition(self.engine, column, partition_keys))

    def condition(self, expr: str, cond: matching.Condition) -> None:
        """Add the SQL of a condition on a (whitelisted) column expression."""
        engine = self.engine
        if isinstance(cond, matching.Equal):
            self.add(f"{expr} = ?", cond.value)
        elif isinstance(cond, matching.InList):
            fragment, params = engine.in_list(expr, cond.values)
            self.add(fragment, *params)
        elif isinstance(cond, matching.Wildcard):
            if engine.like_is_case_sensitive:
                self.add(engine.like(expr), matching.like_pattern(cond.pattern))
            else:
                self.add(engine.glob(expr), matching.glob_pattern(cond.pattern))
        elif isinstance(cond, matching.Range):
            if cond.lower is not None:
                self.add(f"{expr} >= ?", cond.lower)
            if cond.upper is not None:
                self.add(f"{expr} <= ?", cond.upper)
        else:  # Fuzzy on a words column: each word starts some word of the name
            for word in cond.words:
                self.add(engine.like(f"(' ' || {expr})"), "% " + matching.like_escape(word) + "%")


def _partition_condition(engine: Engine, column: str,
                         partition_keys: Partitions) -> tuple[Any, ...]:
    """The SQL fragment and parameters limiting ``column`` to the searched partitions."""
    if isinstance(partition_keys, PartitionNamed):
        return f"{column} = {_BY_NAME.format('key')}", partition_keys.name
    if len(partition_keys) == 1:
        return f"{column} = ?", partition_keys[0]
    fragment, values = engine.in_list(column, list(partition_keys))
    return (fragment, *values)


def _column_expr(flt: Filter, result_level: str) -> str:
    column = flt.tag.column
    assert column is not None
    if result_level == INSTANCE and column in ("study_instance_uid", "series_instance_uid"):
        return f"i.{column}"  # the instance row carries them: one unique-index lookup
    if column in FOLDED_COLUMNS and isinstance(flt.condition, _FOLDED_CONDITIONS):
        column = f"{column}_folded"
    return f"{_ALIASES[flt.tag.level]}.{column}"


def _add_filter(sql: _Sql, flt: Filter, params: QueryParams,
                partition_keys: Partitions) -> None:
    result_level = params.resource.result_level
    cond = flt.condition
    if isinstance(cond, matching.Universal):
        return  # matches every entity: no SQL condition (the attribute is still returned)
    if flt.tag.extended is not None:
        _add_extended_filter(sql, flt.tag.extended, cond, partition_keys)
    elif flt.tag.tag == MODALITIES_IN_STUDY:
        # the study key is unique across partitions: the series are the study's own
        fragment, values = sql.engine.in_list("ms.modality_folded", cond.values)  # type: ignore
        sql.add("EXISTS (SELECT 1 FROM series ms WHERE ms.study_key = st.study_key"
                f" AND {fragment})", *values)
    elif isinstance(cond, matching.Fuzzy) and flt.tag.column in NAME_KINDS:
        for word in cond.words:
            where, *keys = _partition_condition(sql.engine, "w.partition_key", partition_keys)
            sql.add("st.study_key IN (SELECT w.study_key FROM study_name_words w"
                    f" WHERE {where} AND w.name_kind = ? AND w.word >= ?"
                    " AND w.word < ?)", *keys, NAME_KINDS[flt.tag.column], word,
                    matching.prefix_upper_bound(word))
        # recheck on the study row (only for the candidates): the row is the truth if a
        # later change to the study (e.g. a delete's recompute) left old words behind
        sql.condition(f"st.{flt.tag.column}_words", cond)
    else:
        sql.condition(_column_expr(flt, result_level), cond)


def _add_extended_filter(sql: _Sql, tag: ExtendedQueryTagDefinition,
                         cond: matching.Condition, partition_keys: Partitions) -> None:
    """``<key> IN (SELECT <key> FROM extended_query_tag_<type> WHERE ...)`` at the tag's level
    (study values are keyed by study_key, series values by series_key, ...)."""
    key = _KEYS[tag.level]
    table = table_name(tag.tag_vr)
    inner = _Sql(sql.engine)
    inner.add("e.tag_key = ?", tag.tag_key)
    inner.in_partitions("e.partition_key", partition_keys)
    expr = "e.tag_value_words" if isinstance(cond, matching.Fuzzy) else "e.tag_value"
    if table in FOLDED_TABLES and tag.tag_vr != "UI" and isinstance(cond, _FOLDED_CONDITIONS):
        expr = "e.tag_value_folded"
    inner.condition(expr, cond)
    sql.add(f"{_ALIASES[tag.level]}.{key} IN (SELECT e.{key} FROM {table} e"
            f" WHERE {' AND '.join(inner.where)})", *inner.params)


def build_search(conn: DbConn, partition_keys: Partitions, params: QueryParams,
                 path: PathUids) -> tuple[str, list[Any]]:
    """The SELECT of one search page and its parameters (also used by the benchmark's EXPLAIN).
    ``partition_keys``: the partition searched, or every partition of a search across them, or
    one partition by name (the rows then also carry its stored ``partition_name``)."""
    level = params.resource.result_level
    sql = _Sql(conn.engine)
    st_cols = [f"st.{c}" for c in STUDY_COLUMNS]
    se_cols = [f"se.{c}" for c in SERIES_COLUMNS]
    i_cols = [f"i.{c}" for c in INSTANCE_COLUMNS]
    if level == STUDY:
        columns, source, order = st_cols, "studies st", "st.study_key"
        sql.in_partitions("st.partition_key", partition_keys)
        if path.study_instance_uid is not None:
            sql.add("st.study_instance_uid = ?", path.study_instance_uid)
    elif level == SERIES:
        columns = se_cols + st_cols
        source = "series se JOIN studies st ON st.study_key = se.study_key"
        order = "se.series_key"
        sql.in_partitions("se.partition_key", partition_keys)
        if path.study_instance_uid is not None:
            sql.in_partitions("st.partition_key", partition_keys)
            sql.add("st.study_instance_uid = ?", path.study_instance_uid)
    else:
        columns = i_cols + se_cols + st_cols
        source = ("instances i JOIN series se ON se.series_key = i.series_key"
                  " JOIN studies st ON st.study_key = i.study_key")
        order = "i.watermark"
        sql.in_partitions("i.partition_key", partition_keys)
        if path.study_instance_uid is not None:
            sql.add("i.study_instance_uid = ?", path.study_instance_uid)
        if path.series_instance_uid is not None:
            sql.add("i.series_instance_uid = ?", path.series_instance_uid)
        sql.add("i.status = ?", STATUS_CREATED)
    selected: list[Any] = []  # parameters of the select list
    if isinstance(partition_keys, PartitionNamed):  # evaluated once, not per row
        columns = [*columns, f"{_BY_NAME.format('name')} AS partition_name"]
        selected.append(partition_keys.name)
    for flt in params.filters:
        _add_filter(sql, flt, params, partition_keys)
    if level in (STUDY, SERIES):
        key = "study_key" if level == STUDY else "series_key"
        alias = _ALIASES[level]
        sql.add(f"EXISTS (SELECT 1 FROM instances vi WHERE vi.{key} = {alias}.{key}"
                " AND vi.status = ?)", STATUS_CREATED)
    text = (f"SELECT {', '.join(columns)} FROM {source} WHERE {' AND '.join(sql.where)}"
            f" ORDER BY {order} DESC LIMIT ? OFFSET ?")
    return text, selected + sql.params + [params.limit, params.offset]


def search(conn: DbConn, partition_keys: Partitions, params: QueryParams,
           path: PathUids) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One page of matching rows, newest first: the column names and the rows as tuples."""
    text, values = build_search(conn, partition_keys, params, path)
    return conn.fetch_tuples(text, values)


def get_stats(conn: DbConn, partition_keys: Sequence[int], level: str,
              keys: Sequence[int]) -> dict[int, Stats]:
    """Visible-instance counts (and distinct series) and newest watermark per study or series."""
    if not keys:
        return {}
    key = _KEYS[level]
    partitions, *partition_values = _partition_condition(conn.engine, "partition_key",
                                                         partition_keys)
    fragment, values = conn.engine.in_list(key, list(keys))
    _, rows = conn.fetch_tuples(
        f"SELECT {key} AS k, COUNT(*) AS n, COUNT(DISTINCT series_key) AS s,"
        f" MAX(watermark) AS w FROM instances WHERE {partitions} AND status = ?"
        f" AND {fragment} GROUP BY {key}", [*partition_values, STATUS_CREATED, *values])
    return {int(k): Stats(int(n), int(s), int(w)) for k, n, s, w in rows}


def get_modalities(conn: DbConn, partition_keys: Sequence[int],
                   study_keys: Sequence[int]) -> dict[int, list[str]]:
    """The distinct modalities of the series (with visible instances) of each study, sorted."""
    if not study_keys:
        return {}
    partitions, *partition_values = _partition_condition(conn.engine, "se.partition_key",
                                                         partition_keys)
    fragment, values = conn.engine.in_list("se.study_key", list(study_keys))
    _, rows = conn.fetch_tuples(
        "SELECT DISTINCT se.study_key AS k, se.modality AS m FROM series se"
        f" WHERE {partitions} AND {fragment} AND se.modality IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM instances vi WHERE vi.series_key = se.series_key"
        " AND vi.status = ?)", [*partition_values, *values, STATUS_CREATED])
    result: dict[int, list[str]] = {}
    for study_key, modality in rows:
        result.setdefault(int(study_key), []).append(modality)
    return {key: sorted(mods) for key, mods in result.items()}


def get_metadata(conn: DbConn, partition_keys: Sequence[int],
                 watermarks: Iterable[int]) -> dict[int, str]:
    """The stored DICOM JSON text of instance versions, by watermark."""
    marks = sorted(set(watermarks))
    if not marks:
        return {}
    partitions, *partition_values = _partition_condition(conn.engine, "partition_key",
                                                         partition_keys)
    fragment, values = conn.engine.in_list("watermark", marks)
    _, rows = conn.fetch_tuples(
        f"SELECT watermark, dataset FROM instance_metadata WHERE {partitions} AND {fragment}",
        [*partition_values, *values])
    return {int(watermark): dataset for watermark, dataset in rows}


def list_extended_query_tags(conn: DbConn) -> dict[str, ExtendedQueryTagDefinition]:
    """Every extended query tag definition, by tag path."""
    rows = conn.run("list_extended_query_tag_definitions")
    return {row["tag_path"].upper(): ExtendedQueryTagDefinition(
        int(row["tag_key"]), row["tag_path"].upper(), row["tag_vr"], row["tag_private_creator"],
        int(row["tag_level"]), int(row["tag_status"]), int(row["query_status"]),
        int(row["error_count"])) for row in rows}


def index_study_name_words(conn: DbConn, partition_key: int, study_key: int,
                           study: dict[str, Any]) -> None:
    """Record the words of a study's person names for fuzzy matching. Words are only added:
    the table keeps every word any instance of the study gave, and searches recheck the study
    row, so a later change of the row (latest wins, a delete's recompute from the remaining
    instances) needs no update here. Call inside the store transaction."""
    for kind, word in study_name_words(study):
        conn.run("add_study_name_word", partition_key=partition_key, study_key=study_key,
                 name_kind=kind, word=word)


def study_name_words(study: dict[str, Any]) -> list[tuple[int, str]]:
    """(name kind, word) of a study row's person names, each pair once."""
    pairs: list[tuple[int, str]] = []
    for column, kind in NAME_KINDS.items():
        words = person_name_words(study.get(column))
        if words:
            pairs.extend((kind, word) for word in dict.fromkeys(words.split()))
    return pairs

"""The QIDO-RS query string -> QueryParams (reference.md §5.1-5.4, decisions §6).

Pure parsing: the extended query tag definitions come in through a callable, so the database is
read only when a filter names a tag that is not a core one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from pydicom.datadict import keyword_for_tag
from pydicom.tag import BaseTag

from ..errors import InvalidQueryStringError
from ..models import ExtendedQueryTag
from . import matching
from .collation import fold_text
from .numbers import INT64_MAX, boolean_value, bounded_integer
from .tags import INDEXED_ATTRIBUTES, parse_tag, tag_path, vr_of

STUDY, SERIES, INSTANCE = "study", "series", "instance"
LEVEL_RANK = {INSTANCE: 0, SERIES: 1, STUDY: 2}
#: extended_query_tags.tag_level -> level name.
EQT_READY, EQT_QUERY_ENABLED = 1, 1

MODALITIES_IN_STUDY = 0x00080061


@dataclass(frozen=True, slots=True)
class Resource:
    """One of the six search resources."""

    name: str
    result_level: str
    #: levels whose attributes may be filters (reference.md §5.2)
    filter_levels: tuple[str, ...]
    #: levels whose default attributes are returned (reference.md §5.5)
    composition: tuple[str, ...]
    #: path UIDs, in order (keywords)
    path_keywords: tuple[str, ...] = ()


RESOURCES: dict[str, Resource] = {r.name: r for r in (
    Resource("studies", STUDY, (STUDY,), (STUDY,)),
    Resource("series", SERIES, (STUDY, SERIES), (STUDY, SERIES)),
    Resource("instances", INSTANCE, (STUDY, SERIES, INSTANCE), (STUDY, SERIES, INSTANCE)),
    Resource("study_series", SERIES, (SERIES,), (SERIES,), ("StudyInstanceUID",)),
    Resource("study_instances", INSTANCE, (SERIES, INSTANCE), (SERIES, INSTANCE),
             ("StudyInstanceUID",)),
    Resource("series_instances", INSTANCE, (INSTANCE,), (INSTANCE,),
             ("StudyInstanceUID", "SeriesInstanceUID")),
)}

#: Core searchable attributes, keyword -> level: the index columns plus ModalitiesInStudy.
CORE_LEVELS: dict[str, str] = {
    **{keyword: level for keyword, (level, _) in INDEXED_ATTRIBUTES.items()},
    "ModalitiesInStudy": STUDY,
}

_GUIDANCE = ("If the parameter is an attribute keyword, check the casing as they are "
             "case-sensitive. The conformance statement has a list of supported query "
             "parameters, attributes and the levels.")


#: The read side of an extended query tag definition (one model for every layer).
ExtendedQueryTagDefinition = ExtendedQueryTag


@dataclass(frozen=True, slots=True)
class QueryTag:
    """A searchable attribute: core (``column`` set) or extended (``extended`` set)."""

    tag: int
    keyword: str
    vr: str
    level: str
    column: str | None = None
    extended: ExtendedQueryTagDefinition | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """One attribute filter: the key as given, the attribute and its condition."""

    key: str
    tag: QueryTag
    condition: matching.Condition


@dataclass
class QueryParams:
    """A parsed QIDO-RS request."""

    resource: Resource
    limit: int
    offset: int = 0
    fuzzy: bool = False
    include_all: bool = False
    include_tags: tuple[int, ...] = ()
    filters: list[Filter] = field(default_factory=list)

    @property
    def erroneous_keys(self) -> list[str]:
        """Keys of used extended query tags that have indexing errors."""
        return [f.key for f in self.filters
                if f.tag.extended is not None and f.tag.extended.error_count > 0]


def unknown_parameter(key: str) -> InvalidQueryStringError:
    return InvalidQueryStringError(
        f"Invalid query: unknown query parameter '{key}'. {_GUIDANCE}")


def not_queryable(key: str) -> InvalidQueryStringError:
    return InvalidQueryStringError(
        f"Invalid query: AttributeId {key} is not queryable.  {_GUIDANCE}")


def _is_private(tag: BaseTag) -> bool:
    return tag.group % 2 == 1


def _attribute_tag(key: str) -> BaseTag | None:
    """A keyword (case-sensitive) or 8 hex digits naming a dictionary tag or a private tag."""
    tag = parse_tag(key)
    if tag is None:
        return None
    if key != keyword_for_tag(tag) and not _is_private(tag) and not keyword_for_tag(tag):
        return None
    return tag


def parse_include_fields(values: Iterable[str]) -> tuple[bool, tuple[int, ...]]:
    """``includefield`` values (repeatable, comma-separated): (all, tags)."""
    include_all = False
    tags: dict[int, None] = {}
    for raw in values:
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() == "all":
                include_all = True
                continue
            tag = _attribute_tag(item) if "." not in item else None
            if tag is None:
                raise InvalidQueryStringError(
                    f"Invalid query: IncludeField has unknown attribute '{item}'.")
            tags.setdefault(int(tag), None)
    if include_all and tags:
        raise InvalidQueryStringError(
            "Invalid query: cannot specify included fields in addition to 'all'.")
    return include_all, tuple(tags)


def _query_tag(key: str, tag: BaseTag, resource: Resource,
               extended_tags: Callable[[], Mapping[str, ExtendedQueryTagDefinition]]
               ) -> QueryTag:
    """The searchable attribute ``key`` names at this resource, or the reference's 400."""
    keyword = keyword_for_tag(tag) or ""
    level = CORE_LEVELS.get(keyword) if not _is_private(tag) else None
    if level is not None:
        if level not in resource.filter_levels:
            raise not_queryable(key)
        column = INDEXED_ATTRIBUTES[keyword][1] if keyword in INDEXED_ATTRIBUTES else None
        return QueryTag(int(tag), keyword, vr_of(tag) or "CS", level, column=column)
    definition = extended_tags().get(tag_path(tag))
    if (definition is None or definition.tag_status != EQT_READY
            or definition.level not in resource.filter_levels):
        raise not_queryable(key)
    if definition.query_status != EQT_QUERY_ENABLED:
        raise InvalidQueryStringError(f"Query is disabled on specified attribute '{key}'.")
    return QueryTag(int(tag), keyword or definition.tag_path, definition.tag_vr,
                    definition.level, extended=definition)


@dataclass
class CommonParams:
    """The parameters every search shares; ``filters`` are the other (key, value) pairs."""

    limit: int
    offset: int = 0
    fuzzy: bool = False
    includes: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)


def parse_common(args: Iterable[tuple[str, str]], default_limit: int,
                 max_limit: int) -> CommonParams:
    """Split the query string into limit, offset, fuzzymatching, includefield values and the
    filters (names of the reserved parameters ignore case; the first value binds, as in
    ASP.NET)."""
    reserved: dict[str, str] = {}
    common = CommonParams(limit=default_limit)
    for key, value in args:
        name = key.strip().lower()
        if name in ("limit", "offset", "fuzzymatching"):
            reserved.setdefault(name, value)
        elif name == "includefield":
            common.includes.append(value)
        else:
            common.filters.append((key.strip(), value))
    if "limit" in reserved:
        common.limit = bounded_integer("Limit", reserved["limit"], 1, max_limit)
    if "offset" in reserved:
        common.offset = bounded_integer("Offset", reserved["offset"], 0, INT64_MAX,
                                        type_max=INT64_MAX)
    if "fuzzymatching" in reserved:
        common.fuzzy = boolean_value("FuzzyMatching", reserved["fuzzymatching"])
    return common


class SeenFilters:
    """Rejects an attribute given twice, by the same key or in another ID format."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.attributes: set[object] = set()

    def add(self, key: str, attribute: object) -> None:
        if key in self.keys:
            raise InvalidQueryStringError(
                f"Invalid QIDO-RS query. Duplicate AttributeId '{key}'. Each attribute is only "
                "allowed to be specified once.")
        if attribute in self.attributes:
            raise InvalidQueryStringError(
                f"Invalid query: attribute '{key}' has been specified more than once using "
                "different ID formats. Each attribute is only allowed to be specified once.")
        self.keys.add(key)
        self.attributes.add(attribute)


def check_filter_value(key: str, value: str, is_list: bool) -> str:
    """The trimmed filter value, or the reference's 400 for an empty one (``is_list``: a UID
    list with no item) or one the databases cannot compare. Trailing NUL padding is trimmed as
    the stored values' is, so a value is found with or without it (reference.md §3.4)."""
    value = value.strip().rstrip("\x00").rstrip()
    if not value or is_list and not matching.split_list(value):
        raise InvalidQueryStringError(
            f"Invalid query: AttributeId '{key}' has empty string value that is not supported.")
    if "\x00" in value:  # databases cannot compare NUL characters
        raise InvalidQueryStringError(
            f"Invalid query: AttributeId '{key}' has a value with an invalid character.")
    return value


def parse_query(args: Iterable[tuple[str, str]], resource: Resource,
                extended_tags: Callable[[], Mapping[str, ExtendedQueryTagDefinition]],
                default_limit: int = 100, max_limit: int = 200) -> QueryParams:
    """Parse the query string pairs of a search request.

    Parameters
    ----------
    args : the (key, value) pairs in request order, repeated keys included
    resource : the search resource
    extended_tags : returns the extended query tag definitions by tag path (called lazily)

    Raises
    ------
    InvalidQueryStringError : with the reference's message for every invalid input
    """
    common = parse_common(args, default_limit, max_limit)
    params = QueryParams(resource=resource, limit=common.limit, offset=common.offset,
                         fuzzy=common.fuzzy)
    params.include_all, params.include_tags = parse_include_fields(common.includes)

    seen = SeenFilters()
    for key, value in common.filters:
        if "." in key:
            raise InvalidQueryStringError(
                f"Dicom element '{key}' failed validation for VR 'SQ': Sequential dicom tags "
                "are currently not supported.")
        tag = _attribute_tag(key)
        if tag is None:
            raise unknown_parameter(key)
        seen.add(key, int(tag))
        query_tag = _query_tag(key, tag, resource, extended_tags)
        value = check_filter_value(key, value, query_tag.vr == "UI"
                                   or query_tag.tag == MODALITIES_IN_STUDY)
        if query_tag.tag == MODALITIES_IN_STUDY:
            condition: matching.Condition = matching.InList(tuple(dict.fromkeys(
                fold_text(item) for item in matching.split_list(value))))
        else:
            extended_path = query_tag.extended.tag_path if query_tag.extended else None
            condition = matching.parse_value(query_tag.keyword, query_tag.vr, value,
                                             params.fuzzy, extended_path)
        params.filters.append(Filter(key, query_tag, condition))
    return params

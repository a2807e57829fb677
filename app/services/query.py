"""QIDO-RS: search for studies, series and instances (PS3.18 §10.6, reference.md §5).

Flow: parse the query (extended query tag definitions are read only when a filter needs them)
-> one indexed SELECT for the page -> for that page only, counts/newest watermarks, modalities
and stored metadata JSON when a returned attribute needs them -> DICOM JSON datasets.

Returned attributes (reference.md §5.5): the version's defaults for the resource's levels (or the
"all" set), the filter attributes, the path UIDs and ``includefield`` tags. Index columns
(latest-wins study/series rows, the instance row) answer the attributes they hold; any other
attribute comes from the stored metadata of the newest matching instance.
"""
from __future__ import annotations

import json
import json.encoder
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from ..dao import partitions as partitions_dao
from ..dao import query as dao
from ..dao.query import PathUids
from ..db import DbConn
from ..dicomweb.json_model import dumps
from ..dicomweb.query_params import (INSTANCE, LEVEL_RANK, RESOURCES, SERIES, STUDY,
                                     ExtendedQueryTagDefinition, QueryParams, parse_query)
from ..dicomweb.tags import INDEXED_ATTRIBUTES, tag_path, vr_of
from ..models import Partition

__all__ = ["PathUids", "SearchResult", "search", "search_all_partitions"]


def _tags(*keywords: str) -> tuple[int, ...]:
    return tuple(int(tag_for_keyword(k)) for k in keywords)  # type: ignore[arg-type]


#: Default attributes per API version and level (reference.md §5.5).
DEFAULT_TAGS: dict[int, dict[str, tuple[int, ...]]] = {
    1: {
        STUDY: _tags("SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber",
                     "InstanceAvailability", "ReferringPhysicianName", "TimezoneOffsetFromUTC",
                     "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                     "StudyInstanceUID", "StudyID"),
        SERIES: _tags("SpecificCharacterSet", "Modality", "TimezoneOffsetFromUTC",
                      "SeriesDescription", "SeriesInstanceUID", "PerformedProcedureStepStartDate",
                      "PerformedProcedureStepStartTime", "RequestAttributesSequence"),
        INSTANCE: _tags("SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID",
                        "InstanceAvailability", "TimezoneOffsetFromUTC", "InstanceNumber", "Rows",
                        "Columns", "BitsAllocated", "NumberOfFrames"),
    },
    2: {
        STUDY: _tags("StudyInstanceUID", "StudyDate", "StudyDescription", "AccessionNumber",
                     "ReferringPhysicianName", "PatientName", "PatientID", "PatientBirthDate"),
        SERIES: _tags("SeriesInstanceUID", "Modality", "PerformedProcedureStepStartDate",
                      "ManufacturerModelName"),
        INSTANCE: _tags("SOPInstanceUID"),
    },
}
#: ``includefield=all``: the v1 defaults plus these, in both versions (reference.md §5.5).
ALL_EXTRA_TAGS: dict[str, tuple[int, ...]] = {
    STUDY: _tags("StudyDescription", "AnatomicRegionsInStudyCodeSequence",
                 "ProcedureCodeSequence", "NameOfPhysiciansReadingStudy",
                 "AdmittingDiagnosesDescription", "ReferencedStudySequence", "PatientAge",
                 "PatientSize", "PatientWeight", "Occupation", "AdditionalPatientHistory"),
    SERIES: _tags("SeriesNumber", "Laterality", "SeriesDate", "SeriesTime"),
    INSTANCE: (),
}
MODALITIES_IN_STUDY, NUMBER_OF_STUDY_RELATED_SERIES = 0x00080061, 0x00201206
NUMBER_OF_STUDY_RELATED_INSTANCES, NUMBER_OF_SERIES_RELATED_INSTANCES = 0x00201208, 0x00201209
#: Attributes computed from the index, tag -> level they describe.
COMPUTED_TAGS: dict[int, str] = {
    MODALITIES_IN_STUDY: STUDY, NUMBER_OF_STUDY_RELATED_SERIES: STUDY,
    NUMBER_OF_STUDY_RELATED_INSTANCES: STUDY, NUMBER_OF_SERIES_RELATED_INSTANCES: SERIES,
}
_INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US", "SV", "UV"})
#: What a search across partitions adds to each result (decisions "Search across partitions"):
#: the RetrieveURL into the result's own partition, and the partition's name in a private
#: element (LO) of our private creator.
RETRIEVE_URL = 0x00081190
PARTITION_PRIVATE_CREATOR_TAG, PARTITION_NAME_TAG = 0x00090010, 0x00091001
PARTITION_PRIVATE_CREATOR = "DICOMWEB PARTITION"


@dataclass
class SearchResult:
    """The datasets of one page (each as DICOM JSON text) and the keys for the
    ``erroneous-dicom-attributes`` header."""

    datasets: list[str] = field(default_factory=list)
    erroneous_keys: list[str] = field(default_factory=list)
    #: The partition as stored, when it was searched by name and the page has rows.
    partition: Partition | None = None

    def body(self) -> str:
        """The response body: the JSON array of the datasets."""
        return "[" + ",".join(self.datasets) + "]"


def search(conn: DbConn, partition: int | str, api_version: int, resource_name: str,
           args: Iterable[tuple[str, str]], path: PathUids = PathUids(),
           default_limit: int = 100, max_limit: int = 200) -> SearchResult:
    """Search one resource of a partition, given by key or by the name the request gave (found
    in the search's own statement: ``result.partition`` is then the partition as stored when
    the page has rows; an empty page does not tell whether the partition exists).

    Raises
    ------
    InvalidQueryStringError : a 400 with the reference's message for invalid query parameters
    """
    searched = dao.PartitionNamed(partition) if isinstance(partition, str) else (partition,)
    return _search(conn, searched, None, api_version, resource_name, args, path,
                   default_limit, max_limit)


def search_all_partitions(conn: DbConn, base_url: str, api_version: int, resource_name: str,
                          args: Iterable[tuple[str, str]], path: PathUids = PathUids(),
                          default_limit: int = 100, max_limit: int = 200) -> SearchResult:
    """Search one resource in every partition at once: the same parameters, matching and
    paging as ``search``, newest first across partitions (keys and watermarks are unique
    across them). Each result also carries its RetrieveURL (``base_url`` +
    ``/partitions/{name}/...``) and its partition's name (``PARTITION_NAME_TAG``).

    Raises
    ------
    InvalidQueryStringError : a 400 with the reference's message for invalid query parameters
    """
    names = {p.partition_key: p.partition_name for p in partitions_dao.list_partitions(conn)}
    origin = _Origin(base_url, names)
    return _search(conn, tuple(names), origin, api_version, resource_name, args, path,
                   default_limit, max_limit)


@dataclass(frozen=True, slots=True)
class _Origin:
    """For a search across partitions: the base URL and each partition's name, by key."""

    base_url: str
    names: dict[int, str]

    def retrieve_url(self, partition_key: int, study: str, series: str | None,
                     sop: str | None) -> str:
        url = f"{self.base_url}/partitions/{self.names[partition_key]}/studies/{study}"
        if series is not None:
            url += f"/series/{series}"
            if sop is not None:
                url += f"/instances/{sop}"
        return url


def _search(conn: DbConn, searched: dao.Partitions, origin: _Origin | None,
            api_version: int, resource_name: str, args: Iterable[tuple[str, str]],
            path: PathUids, default_limit: int, max_limit: int) -> SearchResult:
    extended: dict[str, dict[str, ExtendedQueryTagDefinition]] = {}

    def extended_tags() -> Mapping[str, ExtendedQueryTagDefinition]:
        if "tags" not in extended:
            extended["tags"] = dao.list_extended_query_tags(conn)
        return extended["tags"]

    params = parse_query(args, RESOURCES[resource_name], extended_tags, default_limit, max_limit)
    result = SearchResult(erroneous_keys=params.erroneous_keys)
    if not searched:
        return result
    columns, rows = dao.search(conn, searched, params, path)
    if not rows:
        return result
    if isinstance(searched, dao.PartitionNamed):  # its key is in the rows from here on
        row = rows[0]
        result.partition = Partition(int(row[columns.index("partition_key")]),
                                     row[columns.index("partition_name")])
        keys: tuple[int, ...] = (result.partition.partition_key,)  # type: ignore[assignment]
    else:
        keys = tuple(searched)
    tags = result_tags(params, api_version)
    if origin is not None:
        tags = sorted({*tags, RETRIEVE_URL, PARTITION_PRIVATE_CREATOR_TAG, PARTITION_NAME_TAG})
    result.datasets = _Builder(conn, keys, params, tags, origin).build(columns, rows)
    return result


def result_tags(params: QueryParams, api_version: int) -> list[int]:
    """The attributes to return, sorted by tag."""
    resource = params.resource
    tags: set[int] = set()
    for level in resource.composition:
        if params.include_all:
            tags.update(DEFAULT_TAGS[1][level])
            tags.update(ALL_EXTRA_TAGS[level])
            tags.update(t for t, lvl in COMPUTED_TAGS.items() if lvl == level)
        else:
            tags.update(DEFAULT_TAGS[api_version][level])
    tags.update(f.tag.tag for f in params.filters)
    tags.update(_tags(*resource.path_keywords))
    tags.update(params.include_tags)
    return sorted(tags)


def _index_column(tag: int, result_level: str) -> str | None:
    """The index column holding ``tag`` for rows of ``result_level`` (its level or above)."""
    entry = INDEXED_ATTRIBUTES.get(keyword_for_tag(tag))
    if entry is None or LEVEL_RANK[entry[0]] < LEVEL_RANK[result_level]:
        return None
    return entry[1]


_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
"""A str as JSON text, exactly as ``json.dumps(..., ensure_ascii=False)`` writes it."""
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
#: How the builder answers an attribute (``_Builder.plan``).
_INDEX_STR, _INDEX_INT, _INDEX_PN, _MODALITIES, _STUDY_SERIES, _STUDY_INSTANCES, \
    _SERIES_INSTANCES, _STORED, _RETRIEVE_URL, _PARTITION_NAME, _PARTITION_CREATOR = range(11)
#: A result's origin: its RetrieveURL and its partition's name, each as JSON text.
_RowOrigin = tuple[str, str]
_PARTITION_CREATOR_TEXT = _quote(PARTITION_PRIVATE_CREATOR)
_ORIGIN_KINDS = {RETRIEVE_URL: (_RETRIEVE_URL, "UR"),
                 PARTITION_PRIVATE_CREATOR_TAG: (_PARTITION_CREATOR, "LO"),
                 PARTITION_NAME_TAG: (_PARTITION_NAME, "LO")}
_COUNT_KINDS = {NUMBER_OF_STUDY_RELATED_SERIES: _STUDY_SERIES,
                NUMBER_OF_STUDY_RELATED_INSTANCES: _STUDY_INSTANCES,
                NUMBER_OF_SERIES_RELATED_INSTANCES: _SERIES_INSTANCES}


def _person_name_json(value: str) -> str:
    """The JSON of a PN value's component groups (``{"Alphabetic": ...}``, empty ones left out)."""
    groups = value.split("=")
    return "{" + ",".join(f'"{name}":{_quote(group)}'
                          for name, group in zip(_PN_GROUPS, groups) if group) + "}"


class _Builder:
    """Turns the rows of a page into DICOM JSON texts, one per dataset.

    The text is written directly from fragments (the ``"<tag>":{"vr":..,"Value":[`` head of
    each attribute is built once per request), with the characters ``json.dumps`` would write
    (compact, ``ensure_ascii=False``): the same bytes as serialising the datasets as dicts,
    without building them. Stored metadata is read only when an attribute has no index source,
    and parsed only when the key of such an attribute occurs in its text.
    """

    def __init__(self, conn: DbConn, partition_keys: tuple[int, ...], params: QueryParams,
                 tags: list[int], origin: _Origin | None = None) -> None:
        self.conn, self.partition_keys, self.params = conn, partition_keys, params
        self.origin = origin
        self.level = params.resource.result_level
        self.index_tags = {t: c for t in tags if (c := _index_column(t, self.level))}
        # a study-level count cannot describe a series of another level's row, and vice versa
        self.computed = [t for t in tags if t in COMPUTED_TAGS
                         and LEVEL_RANK[COMPUTED_TAGS[t]] >= LEVEL_RANK[self.level]]
        self.origin_tags = {t: _ORIGIN_KINDS[t] for t in tags
                            if origin is not None and t in _ORIGIN_KINDS}
        self.metadata_tags = [t for t in tags if t not in self.index_tags
                              and t not in COMPUTED_TAGS and t not in self.origin_tags]
        self.tags = tags

    def _plan(self, columns: dict[str, int]) -> list[tuple[int, int, str, str, str]]:
        """(kind, row index, element head, key, path) per attribute in output order."""
        plan = []
        for tag in self.tags:
            path, vr = tag_path(tag), vr_of(tag) or "UN"
            kind, vr = self.origin_tags.get(tag, (_STORED, vr))
            key = f'"{path}":'
            head = f'{key}{{"vr":{_quote(vr)},"Value":['
            index = -1
            if kind != _STORED:
                pass  # the result's partition (a search across partitions)
            elif tag in self.index_tags:
                index = columns[self.index_tags[tag]]
                kind = _INDEX_PN if vr == "PN" else _INDEX_INT if vr in _INTEGER_VRS \
                    else _INDEX_STR
            elif tag == MODALITIES_IN_STUDY and tag in self.computed:
                kind = _MODALITIES
            elif tag in self.computed:
                kind = _COUNT_KINDS[tag]
            plan.append((kind, index, head, key, path))
        return plan

    def build(self, columns: list[str], rows: list[tuple[Any, ...]]) -> list[str]:
        column = {name: index for index, name in enumerate(columns)}
        study_at, series_at = column["study_key"], column.get("series_key")
        study_stats: dict[int, dao.Stats] = {}
        series_stats: dict[int, dao.Stats] = {}
        needs_metadata = bool(self.metadata_tags)
        study_counts = {NUMBER_OF_STUDY_RELATED_SERIES, NUMBER_OF_STUDY_RELATED_INSTANCES}
        if study_counts & set(self.computed) or (needs_metadata and self.level == STUDY):
            study_stats = dao.get_stats(self.conn, self.partition_keys, STUDY,
                                        sorted({r[study_at] for r in rows}))
        if series_at is not None and (NUMBER_OF_SERIES_RELATED_INSTANCES in self.computed or (
                needs_metadata and self.level == SERIES)):
            series_stats = dao.get_stats(self.conn, self.partition_keys, SERIES,
                                         sorted({r[series_at] for r in rows}))
        modalities = (dao.get_modalities(self.conn, self.partition_keys,
                                         sorted({r[study_at] for r in rows}))
                      if MODALITIES_IN_STUDY in self.computed else {})
        newest: dict[int, int] = {}
        if needs_metadata:
            level_stats, level_at = ((study_stats, study_at) if self.level == STUDY
                                     else (series_stats, series_at))
            for index, row in enumerate(rows):
                if self.level == INSTANCE:
                    newest[index] = int(row[column["watermark"]])
                else:
                    stats = level_stats.get(int(row[level_at]))  # type: ignore[index]
                    if stats is not None:
                        newest[index] = stats.max_watermark
        metadata = dao.get_metadata(self.conn, self.partition_keys, newest.values())
        plan = self._plan(column)
        origin = self._origin_of(column)
        texts = []
        for index, row in enumerate(rows):
            texts.append(self._dataset(
                plan, row, metadata.get(newest.get(index, -1)),
                study_stats.get(row[study_at]),
                series_stats.get(row[series_at]) if series_at is not None else None,
                modalities.get(row[study_at]), origin(row) if origin else None))
        return texts

    def _origin_of(self, column: dict[str, int]) -> Callable[[tuple[Any, ...]], _RowOrigin] | None:
        """For a search across partitions: row -> (RetrieveURL, partition name) as JSON text."""
        origin = self.origin
        if origin is None or not self.origin_tags:
            return None
        partition_at, study_at = column["partition_key"], column["study_instance_uid"]
        series_at = column.get("series_instance_uid") if self.level != STUDY else None
        sop_at = column.get("sop_instance_uid") if self.level == INSTANCE else None

        def of(row: tuple[Any, ...]) -> _RowOrigin:
            key = int(row[partition_at])
            url = origin.retrieve_url(key, row[study_at],
                                      None if series_at is None else row[series_at],
                                      None if sop_at is None else row[sop_at])
            return _quote(url), _quote(origin.names[key])
        return of

    @staticmethod
    def _dataset(plan: list[tuple[int, int, str, str, str]], row: tuple[Any, ...],
                 stored_text: str | None, study: dao.Stats | None,
                 series: dao.Stats | None, modalities: list[str] | None,
                 origin: _RowOrigin | None = None) -> str:
        parts = []
        parsed: dict[str, Any] | None = None
        for kind, index, head, key, path in plan:
            text = None
            if kind <= _INDEX_PN:
                value = row[index]
                if value is not None and value != "":
                    if kind == _INDEX_STR:
                        text = f"{head}{_quote(str(value))}]}}"
                    elif kind == _INDEX_INT:
                        text = f"{head}{int(value)}]}}"
                    else:
                        text = f"{head}{_person_name_json(str(value))}]}}"
            elif kind == _MODALITIES:
                text = (f"{head}{','.join(_quote(m) for m in modalities)}]}}" if modalities
                        else f'{key}{{"vr":"CS"}}')
            elif kind >= _RETRIEVE_URL:
                text = (_PARTITION_CREATOR_TEXT if kind == _PARTITION_CREATOR
                        else origin[kind - _RETRIEVE_URL])  # type: ignore[index]
                text = f"{head}{text}]}}"
            elif kind != _STORED:
                stats = series if kind == _SERIES_INSTANCES else study
                count = 0 if stats is None else (
                    stats.series if kind == _STUDY_SERIES else stats.instances)
                text = f"{head}{count}]}}"
            # the stored metadata, parsed only when an attribute's key occurs in its text
            if text is None and stored_text and (parsed is not None or key in stored_text):
                if parsed is None:
                    parsed = json.loads(stored_text)
                candidate = parsed.get(path)
                if candidate is not None and "BulkDataURI" not in candidate \
                        and "InlineBinary" not in candidate:
                    text = key + dumps(candidate)
            if text is not None:
                parts.append(text)
        return "{" + ",".join(parts) + "}"

"""Extended query tags (reference.md §8): add (with a re-index operation), list, get, delete,
update, errors; indexing at store time; the re-index of stored instances.

The re-index reads the stored DICOM JSON (``instance_metadata``), never the files, in batches
ordered by watermark (keyset pagination). Each batch's values, errors and progress commit in
one transaction, so an interrupted operation resumes after its last committed batch.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import VR as ALL_VRS

from ..dao import extended_query_tags as dao
from ..dao import operations as operations_dao
from ..dao.instances import InstanceKeys
from ..db import DbConn
from ..dicomweb.query_params import CORE_LEVELS
from ..dicomweb.tags import keyword, parse_tag, tag_path
from ..dicomweb.validation import ElementValidationError
from ..errors import (ExistingOperationError, ExtendedQueryTagBusyError,
                      ExtendedQueryTagEntryValidationError, ExtendedQueryTagNotFoundError,
                      ExtendedQueryTagsAlreadyExistsError,
                      ExtendedQueryTagsExceedsMaxAllowedCountError,
                      InvalidExtendedQueryTagPathError)
from . import extended_query_tag_values as values

logger = logging.getLogger(__name__)

LEVELS = {"instance": dao.LEVEL_INSTANCE, "series": dao.LEVEL_SERIES, "study": dao.LEVEL_STUDY}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
STATUS_NAMES = {dao.STATUS_ADDING: "adding", dao.STATUS_READY: "ready",
                dao.STATUS_DELETING: "deleting"}
QUERY_STATUSES = {"disabled": dao.QUERY_DISABLED, "enabled": dao.QUERY_ENABLED}
QUERY_STATUS_NAMES = {number: name for name, number in QUERY_STATUSES.items()}
#: Attributes QIDO searches natively (reference.md §5.2, decisions §6): not extended query tags.
CORE_KEYWORDS = frozenset(CORE_LEVELS)
_VR_CODES = frozenset(name for name in ALL_VRS.__members__ if "_" not in name)
_LO_INVALID = re.compile(r"[\\\x00-\x1a\x1c-\x1f]")

MISSING_TAGS = "The extended query tag(s) is missing."
_REQUIRED = ("The field '[{index}].{name}' in request body is invalid: The Dicom Tag Property "
             "{name} must be specified and must not be null, empty or whitespace.")
_NOT_CONVERTIBLE = ("The field '{field}' in request body is invalid: The JSON value could not "
                    "be converted to {type}.")


@dataclass(frozen=True, slots=True)
class AddEntry:
    """A validated, normalised entry of an add request."""

    path: str
    vr: str
    private_creator: str | None
    level: int


# --- Add -------------------------------------------------------------------------------------

def _text_field(item: dict[str, Any], index: int, name: str) -> str | None:
    value = next((v for k, v in item.items() if k.lower() == name.lower()), None)
    if value is not None and not isinstance(value, str):
        raise ExtendedQueryTagEntryValidationError(
            _NOT_CONVERTIBLE.format(field=f"$[{index}].{name}", type="System.String"))
    return value


def parse_add_request(body: Any) -> list[AddEntry]:
    """Validate the JSON body of ``POST /extendedquerytags`` (reference.md §8.2)."""
    if not isinstance(body, list):
        raise ExtendedQueryTagEntryValidationError(_NOT_CONVERTIBLE.format(
            field="$", type="an array of extended query tag entries"))
    raw: list[tuple[str | None, str | None, str | None, str | None]] = []
    for index, item in enumerate(body):  # JSON conversion errors come first, as in ASP.NET
        if not isinstance(item, dict):
            raise ExtendedQueryTagEntryValidationError(_NOT_CONVERTIBLE.format(
                field=f"$[{index}]", type="AddExtendedQueryTagEntry"))
        path, vr, creator, level = (_text_field(item, index, name)
                                    for name in ("Path", "VR", "PrivateCreator", "Level"))
        if level is not None and level.strip() and level.strip().lower() not in LEVELS:
            raise ExtendedQueryTagEntryValidationError(
                f"The field '$[{index}].Level' in request body is invalid: Expected value "
                f"'{level}' to be one of the following values: ['Instance', 'Series', 'Study']")
        raw.append((path, vr, creator, level))
    for index, (path, _, _, level) in enumerate(raw):
        for name, value in (("Path", path), ("Level", level)):
            if value is None or not value.strip():
                raise ExtendedQueryTagEntryValidationError(
                    _REQUIRED.format(index=index, name=name))
    entries: list[AddEntry] = []
    seen: set[str] = set()
    for path, vr, creator, level in raw:
        entry = _validate_entry(path, vr, creator, level)  # type: ignore[arg-type]
        if path.lower() in seen or entry.path in seen:  # type: ignore[union-attr]
            raise ExtendedQueryTagEntryValidationError(
                f"The extended query tag '{path}' has been specified before.")
        seen.update((path.lower(), entry.path))  # type: ignore[union-attr]
        entries.append(entry)
    if not entries:
        raise ExtendedQueryTagEntryValidationError(MISSING_TAGS)
    return entries


def parse_tag_path(path: str) -> BaseTag:
    """A keyword or 8 hex digits (no sequences); 400 otherwise."""
    tag = parse_tag(path) if path and "." not in path else None
    if tag is None:
        raise InvalidExtendedQueryTagPathError(path)
    return tag


def _is_private_creator(tag: BaseTag) -> bool:
    return tag.is_private and 0x0010 <= tag.element <= 0x00FF


def _dictionary_vrs(tag: BaseTag) -> list[str] | None:
    if _is_private_creator(tag):
        return ["LO"]
    if tag.is_private:
        return None
    try:
        return [vr.strip() for vr in dictionary_VR(tag).split(" or ")]
    except KeyError:
        return None


def _validate_entry(path: str, vr: str | None, creator: str | None, level: str) -> AddEntry:
    """The reference's ExtendedQueryTagEntryValidator, in its order."""
    tag = parse_tag_path(path)
    if keyword(tag) in CORE_KEYWORDS:
        raise ExtendedQueryTagEntryValidationError(f"The query tag '{path}' is already supported.")
    creator = creator if creator and creator.strip() else None
    if not tag.is_private:
        if creator:
            raise ExtendedQueryTagEntryValidationError(
                f"The private creator is not empty for standard tag '{path}'.")
    elif _is_private_creator(tag):
        if creator:
            raise ExtendedQueryTagEntryValidationError(
                f"The private creator is not empty for private identification code '{path}'.")
    elif not creator:
        raise ExtendedQueryTagEntryValidationError(
            f"The private creator for private tag '{path}' is missing.")
    elif len(creator) > 64 or _LO_INVALID.search(creator):
        raise ExtendedQueryTagEntryValidationError(
            f"The private creator for tag '{path}' is not a valid LO attribute.")
    code = vr.strip().upper() if vr and vr.strip() else None
    if code is not None and code not in _VR_CODES:
        raise ExtendedQueryTagEntryValidationError(
            f"The VR code '{vr}' for tag '{path}' is invalid.")
    allowed = _dictionary_vrs(tag)
    if allowed is not None:
        if code is None:
            code = allowed[0]
        elif code not in allowed:
            raise ExtendedQueryTagEntryValidationError(
                f"The VR code '{vr}' is incorrectly specified for '{path}'. The expected VR code "
                f"for it is '{allowed[0]}'. Retry this request either with the correct VR code "
                "or without specifying it.")
    elif code is None:
        raise ExtendedQueryTagEntryValidationError(f"The vr for tag '{path}' is missing.")
    if code not in values.SUPPORTED_VRS:
        raise ExtendedQueryTagEntryValidationError(
            f"The VR code '{code}' specified for tag '{path}' is not supported.")
    return AddEntry(tag_path(tag), code, creator, LEVELS[level.strip().lower()])


def add_extended_query_tags(conn: DbConn, entries: list[AddEntry], max_count: int,
                            now: datetime | None = None) -> str:
    """Add the tags (status adding) and queue their re-index; return the operation id.

    Raises ExistingOperationError (409) while another re-index is active,
    ExtendedQueryTagsExceedsMaxAllowedCountError (503), ExtendedQueryTagsAlreadyExistsError (409).
    """
    now = now or datetime.now(timezone.utc)
    operation_id = uuid.uuid4().hex
    try:
        with conn.transaction(write=True):
            dao.lock_tags(conn)  # concurrent adds queue here, then see each other's rows
            active = operations_dao.find_active_operation(conn, operations_dao.REINDEX)
            if active is not None:
                raise ExistingOperationError(active.operation_id)
            if dao.count_tags(conn) + len(entries) > max_count:
                raise ExtendedQueryTagsExceedsMaxAllowedCountError(max_count)
            if any(dao.get_tag(conn, entry.path) is not None for entry in entries):
                raise ExtendedQueryTagsAlreadyExistsError()
            keys = [dao.add_tag(conn, e.path, e.vr, e.private_creator, e.level, operation_id,
                                now) for e in entries]
            operations_dao.add_operation(
                conn, operation_id, operations_dao.REINDEX,
                [f"/extendedquerytags/{e.path}" for e in entries],
                {"tagKeys": keys, "afterWatermark": 0, "processed": 0, "total": None}, now)
    except conn.engine.integrity_errors as exc:
        raise ExtendedQueryTagsAlreadyExistsError() from exc
    logger.info("Added extended query tags %s (operation %s)",
                [e.path for e in entries], operation_id)
    return operation_id


# --- Get, list, delete, update, errors -------------------------------------------------------

def get_extended_query_tag(conn: DbConn, path: str) -> dao.ExtendedQueryTag:
    """The tag addressed by a keyword or 8-hex path; 400 unparsable, 404 unknown."""
    normalized = tag_path(parse_tag_path(path))
    tag = dao.get_tag(conn, normalized)
    if tag is None:
        raise ExtendedQueryTagNotFoundError(normalized)
    return tag


def list_extended_query_tags(conn: DbConn, limit: int, offset: int) -> list[dao.ExtendedQueryTag]:
    return dao.list_tags(conn, limit, offset)


def delete_extended_query_tag(conn: DbConn, path: str) -> None:
    """Delete a tag with its values and errors; 400 while its re-index runs."""
    normalized = tag_path(parse_tag_path(path))
    with conn.transaction(write=True):
        dao.lock_tags(conn)
        tag = dao.get_tag(conn, normalized)
        if tag is None:
            raise ExtendedQueryTagNotFoundError(normalized)
        if tag.tag_status != dao.STATUS_READY and tag.operation_id is not None:
            raise ExtendedQueryTagBusyError(normalized)
        dao.delete_tag(conn, tag.tag_key)
    logger.info("Deleted extended query tag %s", normalized)


def parse_update_request(body: Any) -> int:
    """The query status of a PATCH body ``{"queryStatus": "Enabled"|"Disabled"}``."""
    if not isinstance(body, dict):
        raise ExtendedQueryTagEntryValidationError(_NOT_CONVERTIBLE.format(
            field="$", type="UpdateExtendedQueryTagOptions"))
    status = None
    for key, value in body.items():
        if key.lower() != "querystatus":
            raise ExtendedQueryTagEntryValidationError(f'The field is not supported: "{key}".')
        status = value
    if status is None:
        raise ExtendedQueryTagEntryValidationError(
            "The field 'QueryStatus' in request body is invalid: The QueryStatus field is "
            "required.")
    if not isinstance(status, str) or status.lower() not in QUERY_STATUSES:
        raise ExtendedQueryTagEntryValidationError(
            f"The field '$.QueryStatus' in request body is invalid: Expected value '{status}' "
            "to be one of the following values: ['Disabled', 'Enabled']")
    return QUERY_STATUSES[status.lower()]


def update_extended_query_tag(conn: DbConn, path: str, query_status: int) -> dao.ExtendedQueryTag:
    """Enable or disable querying on a tag; return the updated tag."""
    with conn.transaction(write=True):
        tag = get_extended_query_tag(conn, path)
        if tag.tag_status == dao.STATUS_DELETING:
            raise ExtendedQueryTagNotFoundError(tag.tag_path)
        dao.update_query_status(conn, tag.tag_key, query_status)
        updated = dao.get_tag_by_key(conn, tag.tag_key)
        if updated is None:  # deleted (through another node) since it was read: 404 as after
            raise ExtendedQueryTagNotFoundError(tag.tag_path)
    return updated


def list_extended_query_tag_errors(conn: DbConn, path: str, limit: int,
                                   offset: int) -> list[dao.TagError]:
    tag = get_extended_query_tag(conn, path)
    return dao.list_errors(conn, tag.tag_key, limit, offset)


# --- Store hook --------------------------------------------------------------------------------

#: Cache key of the prepared list of indexable tags: in DbConn.shared_cache as (signature,
#: list), in DbConn.transaction_cache as the (signature, list) read under the tag lock.
_INDEXABLE = dao.INDEXABLE


class ExtendedQueryTagsChanged(RuntimeError):
    """The indexable tags changed since the instance was validated (another process or node
    added or deleted one): the store transaction rolls back, and the store validates the
    instance again by the current list (``validate_instance`` then reads it) and retries."""


def _load_indexable_tags(conn: DbConn) -> tuple[str, list[values.IndexedTag]]:
    """Read the indexable tags and cache them for this process; (signature, list)."""
    definitions = dao.list_indexable_tags(conn)
    current = (dao.indexable_signature(definitions), values.prepare(definitions))
    conn.shared_cache[_INDEXABLE] = current
    conn.cache[_FRESH] = True
    return current


def _indexable_tags(conn: DbConn) -> tuple[str, list[values.IndexedTag]]:
    """The process's cached (signature, list) of indexable tags, read when there is none yet.
    It may be older than another process's change: every store transaction compares the
    signature validation used with the one it reads under the tag lock (``index_instance``)."""
    cached = conn.shared_cache.get(_INDEXABLE)
    return _load_indexable_tags(conn) if cached is None else cached


#: DbConn.cache key: this request has read the tag list itself (no older copy to distrust).
_FRESH = "extended_query_tags.fresh"


def _check_dataset(tags: list[values.IndexedTag], ds: Dataset
                   ) -> Iterator[tuple[values.IndexedTag, str, int, Any]]:
    """(tag, VR, value count, normalised value or InvalidTagValueError) for each of ``tags``
    present in ``ds``."""
    for tag in tags:
        found = values.values_from_dataset(tag, ds)
        if found is None:
            continue
        try:
            yield tag, found[0], len(found[1]), values.check_value(tag, *found)
        except values.InvalidTagValueError as exc:
            yield tag, found[0], len(found[1]), exc


def validate_instance(conn: DbConn, ds: Dataset
                      ) -> tuple[list[tuple[int, str]], bool, str]:
    """(tag, message) for every extended query tag whose value in ``ds`` is invalid (reference.md
    §8.3: v1 STOW fails such an instance, v2 warns), whether any indexed tag has several
    values (v1's Warning header), and the signature of the tag list validated by (for
    ``index_instance``)."""
    problems, multiple_values = [], False
    # Validation runs before the store transaction and its tag lock, by the process's cached
    # list; the store transaction reads the current signature under the lock and, when a tag
    # was added or deleted meanwhile (by any process or node), has the instance validated
    # again (``index_instance``): a tag added through one node validates the next store on
    # every node.
    signature, tags = _indexable_tags(conn)
    for tag, vr, count, result in _check_dataset(tags, ds):
        multiple_values = multiple_values or count > 1
        if isinstance(result, values.InvalidTagValueError):
            problems.append((int(tag.tag), str(ElementValidationError(
                keyword(tag.tag), vr or tag.definition.tag_vr, str(result)))))
    if problems and not conn.cache.get(_FRESH):
        # Reject or warn only by the current list: the cached one may still hold a tag that
        # another process deleted.
        _load_indexable_tags(conn)
        return validate_instance(conn, ds)
    return problems, multiple_values, signature


def index_instance(conn: DbConn, ds: Dataset, keys: InstanceKeys,
                   validated_by: str | None = None) -> None:
    """Index the values of the adding and ready tags for a newly stored instance (inside the
    store transaction). Invalid values are not indexed.

    ``validated_by``: the signature ``validate_instance`` returned; when the tags changed since,
    raise ExtendedQueryTagsChanged (the caller rolls back and validates again).
    """
    # Once per transaction: the shared lock, held until commit, keeps the tag list unchanged
    # (a concurrent add waits for this store: no instance is missed). When the store statement
    # read the tags' signature under that lock and it matches the cached list, the list is
    # current and costs no round trip.
    current = conn.transaction_cache.get(_INDEXABLE)
    if current is None:
        cached = conn.shared_cache.get(_INDEXABLE)
        if (cached is not None and conn.transaction_cache.get(dao.TAGS_LOCKED)
                and conn.transaction_cache.get(dao.TAG_SIGNATURE) == cached[0]):
            current = cached
        else:
            if not conn.transaction_cache.get(dao.TAGS_LOCKED):
                dao.lock_tags_shared(conn)
            current = _load_indexable_tags(conn)
        conn.transaction_cache[_INDEXABLE] = current
    signature, tags = current
    if validated_by is not None and validated_by != signature:
        raise ExtendedQueryTagsChanged(signature)
    rows = [values.value_row(tag, keys, *result) for tag, _, _, result in _check_dataset(tags, ds)
            if result is not None and not isinstance(result, values.InvalidTagValueError)]
    if rows:
        dao.upsert_values(conn, rows)

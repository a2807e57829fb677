"""STOW-RS: store instances (PS3.18 §10.5, reference §3).

Per instance (the reference's StoreOrchestrator, made single-phase by content addressing):
parse the spooled part -> validate -> build index values and DICOM JSON -> make the file durable
(blob store, by SHA-256) -> one transaction: partition get-or-add, study/series upsert, instance,
metadata, blob reference, change feed, extended query tag values. Per-instance failures are
results, not exceptions.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Callable, Sequence

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.hooks import hooks
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.values import convert_value

from ..blobs import BlobStore, SpoolFile
from ..dao import instances as dao
from ..db import DbConn
from ..dicomweb import status
from ..dicomweb.identifiers import is_valid_uid
from ..dicomweb.json_model import DEFER_SIZE, add_bulkdata_element, dumps, to_dicom_json
from ..dicomweb.tags import INDEXED_ATTRIBUTES, format_tag, person_name_words
from ..dicomweb.tags import keyword as keyword_of
from ..dicomweb.validation import ElementValidationError, lenient_problems, minimum_validate
from ..errors import DataStoreError, InstanceAlreadyExistsError
from ..models import Partition
from . import maintenance
from . import partitions as partition_service

logger = logging.getLogger(__name__)

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
PIXEL_DATA_TAG = 0x7FE00010
_PIXEL_DATA_BYTES = {b"\xe0\x7f\x10\x00": "little", b"\x7f\xe0\x00\x10": "big"}
ENCAPSULATED_PREFIXES = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.8")
#: Required tags (reference §3.4), keyword -> tag, in the order they are checked.
REQUIRED = (("StudyInstanceUID", 0x0020000D), ("SeriesInstanceUID", 0x0020000E),
            ("SOPInstanceUID", 0x00080018), ("SOPClassUID", 0x00080016))
#: Column sizes of the index (values that do not fit are not indexed).
_COLUMN_SIZES = {"patient_id": 64, "patient_name": 200, "referring_physician_name": 200,
                 "study_date": 8, "study_time": 16, "study_description": 64,
                 "accession_number": 16, "patient_birth_date": 8, "study_id": 16, "modality": 16,
                 "performed_procedure_step_start_date": 8, "manufacturer_model_name": 64}
_INTEGER_COLUMNS = {"series_number", "instance_number"}
_INT32_MAX = 2 ** 31 - 1
#: INDEXED_ATTRIBUTES with their tags: (keyword, tag, level, column). Looking elements up by
#: tag avoids pydicom's keyword resolution on the hot path.
_INDEXED = tuple((keyword, Tag(tag_for_keyword(keyword)), level, column)
                 for keyword, (level, column) in INDEXED_ATTRIBUTES.items())


@dataclass
class StoreOutcome:
    """The result of storing one part."""

    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    failure_reason: int | None = None
    warning_reason: int | None = None
    error_comments: list[str] = field(default_factory=list)
    multiple_values: bool = False

    @property
    def stored(self) -> bool:
        return self.failure_reason is None


@dataclass
class StoreContext:
    """What every part of one STOW request shares."""

    conn: DbConn
    blobs: BlobStore
    partition: Partition
    api_version: int
    study_instance_uid: str | None = None
    #: Called inside the store transaction to index extended query tag values (issue #7).
    index_extended_tags: Callable[[DbConn, Dataset, dao.InstanceKeys], None] | None = None
    #: Returns ([(tag, message) of invalid extended query tag values], whether one has several
    #: values): v1 fails the instance, v2 warns (#7).
    validate_extended_tags: Callable[[DbConn, Dataset],
                                     tuple[list[tuple[int, str]], bool]] | None = None


class _Rejected(Exception):
    def __init__(self, reason: int, comments: list[str] | None = None):
        super().__init__(reason)
        self.reason, self.comments = reason, comments or []


def _first(value: Any) -> Any:
    if type(value) is str:  # the usual case, without the ABC check of MultiValue
        return value
    if isinstance(value, (list, tuple, MultiValue)):
        return value[0] if len(value) else None
    return value


def _comment(tag: int, message: str) -> str:
    return f"{status.ERROR_COMMENT_PREFIX}: {format_tag(tag)} - {message}"


#: Bytes of a part kept in memory while it is spooled, so its header is parsed without reading
#: the file back (a CT or MR header is a few kB; a larger one is read from the file). Not more
#: than DEFER_SIZE: an element dcmread defers then never fits in the head.
HEAD_SIZE = min(64 * 1024, DEFER_SIZE)
#: Parts of one request that keep their head (the rest are parsed from their files).
HEADS_PER_REQUEST = 64


def _read(spool: SpoolFile) -> tuple[Dataset, bool]:
    """Parse the part up to the pixel data; return the dataset and whether pixel data follows.

    The part's head in memory is enough for most headers; otherwise the file is read. Raise
    _Rejected for a truncated file (pydicom reads short values silently).
    """
    if spool.head:
        head = bytes(spool.head)
        found = _parse(io.BytesIO(head), spool.size, partial=len(head) < spool.size)
        if found is not None:
            return found
    with spool.open() as fp:
        return _parse(fp, spool.size)  # type: ignore[return-value]


def _parse(fp: BinaryIO, size: int, partial: bool = False) -> tuple[Dataset, bool] | None:
    """``_read`` from ``fp``. With ``partial`` (``fp`` holds only the first bytes of the part),
    None when they are not enough: the header goes beyond them, or the pixel data is
    encapsulated (its end is checked in the file)."""
    try:
        ds = dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
    except Exception:
        if partial:  # cut off by the end of the head: the file decides
            return None
        raise
    position = fp.tell()
    header = fp.read(12)
    has_pixels = header[:4] in _PIXEL_DATA_BYTES
    if partial:
        extent = _pixel_extent(ds, header, position) if has_pixels else None
        if extent is None or extent[1] == _UNDEFINED_LENGTH:
            return None
    if _is_truncated(ds, fp, size, header if has_pixels else None, position):
        raise _Rejected(status.VALIDATION_FAILURE)
    return ds, has_pixels


_UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
_SEQUENCE_DELIMITER = {True: b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",
                       False: b"\xff\xfe\xe0\xdd\x00\x00\x00\x00"}


def _pixel_extent(ds: Dataset, pixel_header: bytes, position: int) -> tuple[int, int] | None:
    """(start, length) of the pixel data value whose element header was read at ``position``;
    None if the element header itself is cut short."""
    implicit, little = ds.original_encoding
    if len(pixel_header) < (8 if implicit else 12):
        return None
    order = "little" if little else "big"
    if implicit:
        return position + 8, int.from_bytes(pixel_header[4:8], order)
    if pixel_header[4:6] in _LONG_LENGTH_VRS:
        return position + 12, int.from_bytes(pixel_header[8:12], order)
    return position + 8, int.from_bytes(pixel_header[6:8], order)


def _is_truncated(ds: Dataset, fp: BinaryIO, size: int, pixel_header: bytes | None,
                  position: int) -> bool:
    """Does the last element read, or the pixel data that follows, end beyond the file?"""
    last = max(ds.keys(), default=None)
    if last is not None:
        raw = ds.get_item(last)
        if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH:
            end = raw.value_tell + raw.length
            # Without pixel data the last element ends the file; a few bytes more are a
            # truncated element header that pydicom skipped.
            if end > size or (pixel_header is None and end != size):
                return True
    if pixel_header is None:
        return False
    extent = _pixel_extent(ds, pixel_header, position)
    if extent is None:
        return True
    start, length = extent
    if length != _UNDEFINED_LENGTH:
        return start + length > size
    # Encapsulated pixel data ends with a sequence delimitation item (PS3.5 §A.4).
    # Trailing padding may follow it, so look at the last few kilobytes.
    fp.seek(max(position, size - 4096))
    return _SEQUENCE_DELIMITER[bool(ds.original_encoding[1])] not in fp.read()


def _pixel_vr(ds: Dataset) -> str:
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if ts.startswith(ENCAPSULATED_PREFIXES) and ts != "1.2.840.10008.1.2.5.":
        return "OB"
    return "OW" if int(ds.get("BitsAllocated", 16) or 16) > 8 else "OB"


def _index_value(column: str, value: Any) -> Any:
    value = _first(value)
    if value is None or value == "":
        return None
    if column in _INTEGER_COLUMNS:
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    text = str(value).rstrip("\x00").strip()
    if not text or "\x00" in text:
        return None
    if column in _COLUMN_SIZES and len(text) > _COLUMN_SIZES[column]:
        return None
    return text


def _elements(ds: Dataset, undecodable: dict[int, str] | None = None
              ) -> dict[int, DataElement]:
    """The dataset's top-level elements by tag, each read once (pydicom converts a raw element
    on every first access and looks it up anew on each one after). Deferred elements (large
    values dcmread did not read) are left out: nothing here needs their values. Elements whose
    value pydicom cannot convert (e.g. an FD of 5 bytes) are left out too, and with
    ``undecodable`` recorded there (tag -> VR)."""
    elements: dict[int, DataElement] = {}
    encoding = ds.original_character_set
    direct = _default_conversion()
    stored = ds._dict
    for tag in ds.keys():
        raw = ds.get_item(tag)
        try:
            if isinstance(raw, RawDataElement):
                if raw.value is None and raw.length:
                    continue
                vr = raw.VR
                if encoding and vr in _PLAIN_VRS and tag != _SPECIFIC_CHARACTER_SET:
                    number = int(tag)
                    if (direct and vr != "UN" and number not in _SPECIAL_TAGS
                            and not number & 0x10000):
                        # What pydicom's default hooks and Dataset.__setitem__ do for such an
                        # element (public, not pixel data nor a LUT descriptor, VR not UN, which
                        # the hooks may replace), without their dispatch, lookups and Tag
                        # comparisons.
                        elem = DataElement(tag, vr, convert_value(vr, raw, encoding),
                                           raw.value_tell, raw.length == _UNDEFINED_LENGTH,
                                           already_converted=True)
                    else:
                        elem = convert_raw_data_element(raw, encoding=encoding, ds=ds)
                    stored[tag] = elements[number] = elem
                    continue
            elements[int(tag)] = ds[tag]
        except _CONVERSION_ERRORS:
            if undecodable is None:
                raise
            undecodable[int(tag)] = str(getattr(raw, "VR", None) or "UN")
    return elements


def _default_conversion() -> bool:
    """Whether pydicom converts raw elements its default way (no hook or callback set)."""
    return (hooks.raw_element_vr is _DEFAULT_VR_HOOK
            and hooks.raw_element_value is _DEFAULT_VALUE_HOOK
            and not hooks.raw_element_kwargs and not pydicom_config.data_element_callback
            and not pydicom_config.convert_wrong_length_to_UN)


_DEFAULT_VR_HOOK, _DEFAULT_VALUE_HOOK = hooks.raw_element_vr, hooks.raw_element_value
#: Tags pydicom treats specially when converting or storing an element: the LUT descriptors
#: (it fixes their first value) and pixel data (storing it resets the dataset's pixel array).
_SPECIAL_TAGS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002,
                           0x7FE00008, 0x7FE00009, 0x7FE00010})


#: VRs whose raw elements convert on their own (ds[tag] treats SQ and ambiguous VRs more).
_PLAIN_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                        "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SS", "ST", "SV",
                        "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"})
_SPECIFIC_CHARACTER_SET = 0x00080005


def _uid(elements: dict[int, DataElement], tag: int) -> str:
    return str(_first(elements[tag].value)).rstrip(" \x00")


def _validate(ctx: StoreContext, ds: Dataset, elements: dict[int, DataElement],
              outcome: StoreOutcome, undecodable: dict[int, str] | None = None) -> set[int]:
    """Check required and indexed tags; return the tags whose values must not be indexed or kept
    in the metadata (v2 warnings). Raise _Rejected for a failure.

    An element whose value cannot be decoded fails the instance on v1 and is a warning on v2
    (left out of the metadata and the index), like any other invalid value."""
    comments: list[str] = []
    undecodable = undecodable or {}
    for name, tag in REQUIRED:
        elem = elements.get(tag)
        value = _first(elem.value) if elem is not None else None
        if value is None or str(value).strip("\x00 ") == "":
            raise _Rejected(status.VALIDATION_FAILURE,
                            [_comment(tag, f"The required tag '{format_tag(tag)}' is missing.")])
        if not is_valid_uid(str(value).rstrip("\x00")):
            raise _Rejected(status.VALIDATION_FAILURE, [_comment(
                tag, str(ElementValidationError(name, "UI", "DICOM Identifier is invalid. "
                                                "Value length should not exceed the maximum "
                                                "length of 64 characters. Value should contain "
                                                "characters in '0'-'9' and '.'. Each component "
                                                "must start with non-zero number.")))])
    patient_id = elements.get(0x00100020)
    if patient_id is None or (ctx.api_version == 1 and not str(patient_id.value or "").strip()):
        raise _Rejected(status.VALIDATION_FAILURE,
                        [_comment(0x00100020, "The required tag '(0010,0020)' is missing.")])
    if ctx.study_instance_uid is not None:
        stored = _uid(elements, 0x0020000D)
        if stored.lower() != ctx.study_instance_uid.rstrip(" ").lower():
            raise _Rejected(status.VALIDATION_FAILURE, [_comment(
                0x0020000D, "The StudyInstanceUid in the payload does not match the specified "
                "StudyInstanceUid.")])

    dropped: set[int] = set()
    for tag, vr in sorted(undecodable.items()):
        comment = _comment(tag, str(ElementValidationError(
            keyword_of(tag), vr, "Value cannot be decoded.")))
        if ctx.api_version == 1:
            raise _Rejected(status.VALIDATION_FAILURE, [comment])
        comments.append(comment)
        dropped.add(tag)
    for keyword, tag, _, _ in _INDEXED:
        elem = elements.get(tag)
        if elem is None:
            continue
        if isinstance(elem.value, MultiValue) and len(elem.value) > 1:
            if ctx.api_version == 1 or keyword in ("StudyInstanceUID", "SeriesInstanceUID",
                                                   "SOPInstanceUID", "SOPClassUID",
                                                   "PatientID"):
                outcome.multiple_values = True
        try:
            minimum_validate(elem)
        except ElementValidationError as exc:
            if ctx.api_version == 1:
                raise _Rejected(status.VALIDATION_FAILURE, [_comment(elem.tag, str(exc))])
            comments.append(_comment(elem.tag, str(exc)))
            dropped.add(int(elem.tag))
    if ctx.validate_extended_tags is not None:  # extended query tags (reference §8.3)
        problems, multiple_values = ctx.validate_extended_tags(ctx.conn, ds)
        if multiple_values and ctx.api_version == 1:  # the v1 Warning header (reference §3.2)
            outcome.multiple_values = True
        for tag, message in problems:
            if ctx.api_version == 1:
                raise _Rejected(status.VALIDATION_FAILURE, [_comment(tag, message)])
            comments.append(_comment(tag, message))
            dropped.add(tag)
    if ctx.api_version >= 2:
        seen = {c.split(" - ", 1)[0] for c in comments}
        for elem, reason in lenient_problems(elements.values()):
            if int(elem.tag) in dropped:
                continue
            comment = _comment(elem.tag, str(ElementValidationError(
                elem.keyword or format_tag(elem.tag), elem.VR, reason)))
            if comment.split(" - ", 1)[0] in seen:
                continue
            seen.add(comment.split(" - ", 1)[0])
            comments.append(comment)
            if elements.get(int(elem.tag)) is elem:  # top-level: dropped from the metadata
                dropped.add(int(elem.tag))
        if comments:
            outcome.warning_reason = status.DATASET_HAS_VALIDATION_WARNINGS
    outcome.error_comments = comments
    return dropped


def _index_columns(elements: dict[int, DataElement], dropped: set[int]
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    study: dict[str, Any] = {}
    series: dict[str, Any] = {}
    instance: dict[str, Any] = {}
    target = {"study": study, "series": series, "instance": instance}
    for _, tag, level, column in _INDEXED:
        elem = elements.get(tag)
        value = None
        if elem is not None and tag not in dropped:
            value = _index_value(column, elem.value)
        target[level][column] = value
    study["study_instance_uid"] = _uid(elements, 0x0020000D)
    series["series_instance_uid"] = _uid(elements, 0x0020000E)
    study["patient_id"] = study.get("patient_id") or ""
    study["patient_name_words"] = person_name_words(study.get("patient_name"))
    study["referring_physician_name_words"] = person_name_words(
        study.get("referring_physician_name"))
    return study, series, instance


def store_instance(ctx: StoreContext, spool: SpoolFile) -> StoreOutcome:
    """Store one spooled part; never raises for a bad instance (the outcome says why)."""
    outcome = StoreOutcome()
    _capture(outcome, lambda: _store(ctx, *_prepare(ctx, spool, outcome)))
    return outcome


#: Advisory-lock key space of study locks (the two-key form never overlaps one-key locks).
_STUDY_LOCK_SPACE = 7461


def store_instances(ctx: StoreContext, spools: Sequence[SpoolFile]) -> list[StoreOutcome]:
    """Store the parts of one request, in order; never raises for a bad instance.

    Like ``store_instance`` for each part, with the durable work done together per batch of
    ``BATCH_SIZE`` parts: the files are fsynced in parallel and the batch's index rows are
    committed in one transaction (one commit instead of one per part). If that transaction
    fails (e.g. a concurrent store of the same UIDs), the batch's parts are stored one by one
    as ``store_instance`` does.
    """
    outcomes = [StoreOutcome() for _ in spools]
    if len(spools) == 1:
        _capture(outcomes[0], lambda: _store(ctx, *_prepare(ctx, spools[0], outcomes[0])))
        return outcomes
    seen: set[tuple[str, str, str]] = set()
    for first in range(0, len(spools), BATCH_SIZE):  # batches keep memory flat
        prepared: list[tuple[StoreOutcome, _Prepared]] = []
        for spool, outcome in zip(spools[first:first + BATCH_SIZE],
                                  outcomes[first:first + BATCH_SIZE]):
            item = _capture(outcome, lambda: _prepare(ctx, spool, outcome))
            if item is None:
                continue
            uids = (outcome.study_instance_uid or "", outcome.series_instance_uid or "",
                    outcome.sop_instance_uid or "")
            if uids in seen:  # the same instance twice in one request: a duplicate
                _reject(outcome, _Rejected(status.SOP_INSTANCE_ALREADY_EXISTS))
                continue
            seen.add(uids)
            prepared.append((outcome, item))
        if prepared:
            _store_together(ctx, prepared)
    return outcomes


def _store_together(ctx: StoreContext, prepared: list[tuple[StoreOutcome, _Prepared]]) -> None:
    """Check, put and index a batch of validated parts (see ``store_instances``)."""
    conn = ctx.conn
    _check_none_stored(ctx, prepared)  # duplicates never write a file
    ready = [(o, i) for o, i in prepared if o.failure_reason is None]
    with ThreadPoolExecutor(max_workers=_PUT_THREADS) as pool:  # fsync releases the GIL
        list(pool.map(lambda pair: _capture(pair[0], lambda: _put(ctx, pair[1][1])), ready))
    ready = [(o, i) for o, i in ready if o.failure_reason is None]
    if not ready:
        return
    now = datetime.now(timezone.utc)
    partition = ctx.partition
    try:
        with conn.transaction(write=True, begin_with_next_statement=True):
            _lock_studies(conn, partition, ready)
            for _, (ds, spool, _, new) in ready:
                if not partition.exists:
                    partition = partition_service.get_or_add_partition(
                        conn, partition.partition_name)
                _add_rows(ctx, conn, partition, ds, spool, new, now)
    except Exception as exc:  # a duplicate raced past the check, a deadlock, a bad row:
        # one by one (a database that is down fails there too, with 503)
        logger.info("Storing %d instances together failed (%s); storing them one by one",
                    len(ready), type(exc).__name__)
        for outcome, item in ready:
            _capture(outcome, lambda: _store(ctx, *item))
        return
    ctx.partition = partition
    logger.info("Stored %d instances in partition %s", len(ready), partition.partition_name)
    maintenance.note_stored(conn, len(ready))


def _lock_studies(conn: DbConn, partition: Partition,
                  ready: list[tuple[StoreOutcome, _Prepared]]) -> None:
    """PostgreSQL: lock the batch's studies in one global order before writing any row.

    Two concurrent requests into overlapping studies then wait for each other instead of
    deadlocking on the study and series rows, while instances are indexed in request order (so
    their watermarks, and newest-first results, follow the upload). SQLite needs nothing: its
    write transactions are serialized. Two requests racing with the same instances can still
    deadlock on the unique key; PostgreSQL aborts one and its parts are stored one by one.
    """
    if conn.dialect != "postgresql":
        return
    keys = sorted({f"{partition.partition_name.lower()}/{o.study_instance_uid}"
                   for o, _ in ready})
    for key in keys:
        conn.fetchall("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_STUDY_LOCK_SPACE, key))


def _capture(outcome: StoreOutcome, work: Callable[[], Any]) -> Any:
    """Run ``work``; record a rejection or an unexpected error in the outcome (None returned)."""
    try:
        return work()
    except _Rejected as rejected:
        _reject(outcome, rejected)
    except DataStoreError:
        raise
    except Exception:  # never a 500 for one bad part: report it as a processing failure
        logger.exception("Unexpected error while storing a part")
        _reject(outcome, _Rejected(status.PROCESSING_FAILURE))
    return None


def _reject(outcome: StoreOutcome, rejected: _Rejected) -> None:
    outcome.failure_reason = rejected.reason
    outcome.error_comments = rejected.comments
    outcome.warning_reason = None


#: (dataset, spool, outcome, index rows) of a part that passed validation.
_Prepared = tuple[Dataset, SpoolFile, StoreOutcome, dao.NewInstance]
_PUT_THREADS = 4
#: Parts stored together (one transaction); their datasets are held in memory meanwhile.
BATCH_SIZE = 50


#: What pydicom raises for bytes it cannot read as DICOM.
_CONVERSION_ERRORS = (InvalidDicomError, BytesLengthException, EOFError, ValueError, KeyError,
                      TypeError, OSError, AttributeError, IndexError, NotImplementedError,
                      OverflowError)


def _prepare(ctx: StoreContext, spool: SpoolFile, outcome: StoreOutcome) -> _Prepared:
    """Read and validate a part; build its index rows and metadata. Raise _Rejected."""
    try:
        if spool.size == 0:
            raise _Rejected(status.VALIDATION_FAILURE)
        ds, has_pixels = _read(spool)
        if "TransferSyntaxUID" not in ds.file_meta:
            raise _Rejected(status.VALIDATION_FAILURE)
    except _Rejected:
        raise
    except _CONVERSION_ERRORS as exc:
        logger.info("Rejected an unreadable DICOM part: %s", exc)
        raise _Rejected(status.VALIDATION_FAILURE) from None
    undecodable: dict[int, str] = {}
    elements = _elements(ds, undecodable)
    sop_class = elements.get(0x00080016)
    sop_instance = elements.get(0x00080018)
    outcome.sop_class_uid = _uid(elements, 0x00080016) if sop_class else None
    outcome.sop_instance_uid = _uid(elements, 0x00080018) if sop_instance else None
    dropped = _validate(ctx, ds, elements, outcome, undecodable)
    outcome.study_instance_uid = _uid(elements, 0x0020000D)
    outcome.series_instance_uid = _uid(elements, 0x0020000E)
    transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
    if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        outcome.warning_reason = status.DATASET_DOES_NOT_MATCH_SOP_CLASS

    study, series, instance = _index_columns(elements, dropped)
    try:
        metadata = to_dicom_json(ds, exclude=dropped)
    except Exception as exc:  # an element pydicom cannot express in JSON
        logger.info("Rejected a part whose metadata cannot be encoded: %s", exc)
        raise _Rejected(status.VALIDATION_FAILURE) from None
    if has_pixels:
        add_bulkdata_element(metadata, PIXEL_DATA_TAG, _pixel_vr(ds))
    frames = _index_value("number_of_frames", ds.get("NumberOfFrames"))
    try:
        number_of_frames = int(frames) if frames is not None else (1 if has_pixels else None)
    except ValueError:
        number_of_frames = 1 if has_pixels else None
    if number_of_frames is not None and not 0 <= number_of_frames <= _INT32_MAX:
        number_of_frames = 1 if has_pixels else None  # the column is a 32-bit INTEGER
    return ds, spool, outcome, dao.NewInstance(
        partition_key=0, study=study, series=series,
        sop_instance_uid=outcome.sop_instance_uid or "",
        sop_class_uid=outcome.sop_class_uid, instance_number=instance["instance_number"],
        transfer_syntax_uid=transfer_syntax, number_of_frames=number_of_frames,
        blob_key=spool.key, blob_size=spool.size, metadata_json=dumps(metadata))


def _store(ctx: StoreContext, ds: Dataset, spool: SpoolFile, outcome: StoreOutcome,
           new: dao.NewInstance) -> None:
    """Make the file durable, then write the index rows in one transaction.

    The duplicate check comes first so a duplicate never writes a file. On PostgreSQL it runs
    inside the write transaction (a SELECT takes no lock; this saves two round trips); on SQLite
    outside, because BEGIN IMMEDIATE would hold the database's write lock during the fsync.
    A duplicate that races past the check fails on the unique key (45070).
    """
    conn = ctx.conn
    check_in_transaction = conn.dialect == "postgresql"
    if not check_in_transaction:
        _check_not_stored(ctx, new)
        _put(ctx, spool)
    for attempt in range(_ATTEMPTS):
        now = datetime.now(timezone.utc)
        partition = ctx.partition
        try:
            with conn.transaction(write=True, begin_with_next_statement=True):
                if check_in_transaction:  # with the tag lock: no round trip of its own
                    _check_not_stored(ctx, new, lock_tags=True)
                    _put(ctx, spool)
                if not partition.exists:
                    partition = partition_service.get_or_add_partition(
                        conn, partition.partition_name)
                keys = _add_rows(ctx, conn, partition, ds, spool, new, now)
            break
        except dao.StudyRemovedError:
            if attempt + 1 == _ATTEMPTS:
                logger.warning("Storing instance %s failed: its study kept being deleted",
                               new.sop_instance_uid)
                raise _Rejected(status.PROCESSING_FAILURE) from None
        except InstanceAlreadyExistsError:
            raise _Rejected(status.SOP_INSTANCE_ALREADY_EXISTS) from None
        except (_Rejected, DataStoreError):
            raise
        except Exception:
            logger.exception("Storing instance %s failed", new.sop_instance_uid)
            raise _Rejected(status.PROCESSING_FAILURE) from None
    ctx.partition = partition
    logger.info("Stored instance %s in partition %s (watermark %s)", new.sop_instance_uid,
                partition.partition_name, keys.watermark)
    maintenance.note_stored(conn, 1)


#: Transactions a store tries when a concurrent delete removes its study (StudyRemovedError).
_ATTEMPTS = 3


def _add_rows(ctx: StoreContext, conn: DbConn, partition: Partition, ds: Dataset,
              spool: SpoolFile, new: dao.NewInstance, now: datetime) -> dao.InstanceKeys:
    """The index rows of one instance, inside the caller's write transaction."""
    row = dao.NewInstance(**{**_as_dict(new), "partition_key": partition.partition_key})
    keys = dao.add_instance(conn, row, now)  # with the name words for QIDO fuzzy matching
    if not ctx.blobs.exists(spool.key):  # a concurrent delete removed the shared file
        ctx.blobs.put(spool)
    if ctx.index_extended_tags is not None:
        ctx.index_extended_tags(conn, ds, keys)
    return keys


def _check_not_stored(ctx: StoreContext, new: dao.NewInstance, lock_tags: bool = False) -> None:
    """Reject (45070, or 45071 for a row still being created) UIDs the partition already has.

    ``lock_tags``: take the extended query tags' shared lock too (see dao.get_instance_status).
    """
    partition = ctx.partition
    if not partition.exists:
        return
    existing = dao.get_instance_status(ctx.conn, partition.partition_key, *_uids(new),
                                       lock_tags=lock_tags)
    if existing is not None:
        raise _already_stored(existing)


def _check_none_stored(ctx: StoreContext, prepared: list[tuple[StoreOutcome, _Prepared]]
                       ) -> None:
    """``_check_not_stored`` for a batch, in one query; rejects the parts already stored."""
    if not ctx.partition.exists:
        return
    existing = dao.get_instance_statuses(ctx.conn, ctx.partition.partition_key,
                                         [_uids(item[3]) for _, item in prepared])
    for outcome, item in prepared:
        found = existing.get(_uids(item[3]))
        if found is not None:
            _reject(outcome, _already_stored(found))


def _already_stored(instance_status: int) -> _Rejected:
    """45070 for a stored instance, 45071 for a row still being created."""
    return _Rejected(status.SOP_INSTANCE_ALREADY_EXISTS if instance_status == dao.STATUS_CREATED
                     else status.PENDING_SOP_INSTANCE)


def _uids(new: dao.NewInstance) -> tuple[str, str, str]:
    """(study, series, SOP instance) UIDs of a part's index rows."""
    return (new.study["study_instance_uid"], new.series["series_instance_uid"],
            new.sop_instance_uid)


def _put(ctx: StoreContext, spool: SpoolFile) -> None:
    try:
        ctx.blobs.put(spool)  # durable before any index row can point at it
    except OSError:
        logger.exception("Could not write blob %s", spool.key)
        raise _Rejected(status.PROCESSING_FAILURE) from None


def _as_dict(new: dao.NewInstance) -> dict[str, Any]:
    return {name: getattr(new, name) for name in new.__dataclass_fields__}

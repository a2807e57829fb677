"""WADO-RS metadata: the stored DICOM JSON of a study, series or instance as one JSON array
(PS3.18 §10.4.1.1.2, reference.md §4.4, decisions: Retrieve)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ..dao import retrieve as dao
from ..db import DbConn
from ..dicomweb.json_model import with_bulkdata_base
from ..models import Partition
from .retrieve import ResourceIds

#: Instances whose metadata is read, and held, at a time: a study or series with more is
#: streamed, batch by batch, as the response is sent (tests lower it).
METADATA_BATCH_SIZE = 200


@dataclass(frozen=True, slots=True)
class MetadataResult:
    """Metadata as one JSON text (``body``) or, for a study or series of more than one batch,
    as ``chunks``: UTF-8 pieces of the JSON array, read from the database as they are sent,
    on the connection given to ``retrieve_metadata``, whose read ``end`` finishes (once the
    chunks are sent or abandoned, before the connection is used again). Neither: not
    modified. With its ETag and the partition as stored."""

    body: str | None
    etag: str
    partition: Partition
    chunks: Iterator[bytes] | None = None
    end: Callable[[], None] | None = None


def retrieve_metadata(conn: DbConn, ids: ResourceIds, resource_base: Callable[[str], str],
                      if_none_match: str | None, original: bool = False) -> MetadataResult:
    """The stored DICOM JSON of a study, series or instance as one JSON array (with
    ``original``, each updated instance's as first stored: reference-2.md §2.4).

    ETag (reference.md §4.4): ``{watermark}`` for an instance, ``{max watermark}-{count}``
    otherwise, always of the current versions; a matching ``If-None-Match`` gives neither body
    nor chunks (304). Texts are concatenated, never parsed; ``bulkdata:`` references become
    absolute bulk-data URLs, under ``resource_base(stored partition name)``.

    Up to ``METADATA_BATCH_SIZE`` instances are read by one statement, the body made whole. A
    study or series with more is read again by one statement (one snapshot, whose ETag is
    taken from its first batch) whose rows are fetched a batch at a time as the chunks are
    sent: memory holds one batch whatever the study's size (decisions: Retrieve).
    """
    size = METADATA_BATCH_SIZE
    found = dao.first_metadata(conn, ids.partition_name, ids.study, ids.series, ids.sop,
                               original, size)
    batches = None
    if found is not None and found.count > size:
        batches = dao.stream_metadata(conn, ids.partition_name, ids.study, ids.series,
                                      original, size)
        found = next(batches, None)
    try:
        if found is None:
            raise ids.not_found()
        partition = found.partition
        etag = (str(found.max_watermark) if ids.sop is not None
                else f"{found.max_watermark}-{found.count}")
        if (if_none_match is not None
                and if_none_match.strip().strip('"').lower() == etag.lower()):
            return MetadataResult(None, etag, partition)
        study_url = f"{resource_base(partition.partition_name)}/studies/{ids.study}"
        if batches is None:
            return MetadataResult("[" + _joined(found.rows, study_url) + "]", etag, partition)
        result = MetadataResult(None, etag, partition,
                                _json_array(found.rows, batches, study_url), batches.close)
        batches = None  # the caller's now
        return result
    finally:
        if batches is not None:
            batches.close()


def _joined(rows: list[dao.InstanceMetadata], study_url: str) -> str:
    """The rows' DICOM JSON texts, comma-separated, with absolute bulk-data URLs."""
    texts = []
    for row in rows:
        text = row.dataset
        if '"bulkdata:' in text:
            text = with_bulkdata_base(text, f"{study_url}/series/{row.series_instance_uid}"
                                      f"/instances/{row.sop_instance_uid}")
        texts.append(text)
    return ",".join(texts)


def _json_array(first: list[dao.InstanceMetadata], batches: Iterator[dao.MetadataBatch],
                study_url: str) -> Iterator[bytes]:
    """The JSON array of ``first`` and of every further batch, one piece per batch."""
    yield ("[" + _joined(first, study_url)).encode()
    for batch in batches:
        yield ("," + _joined(batch.rows, study_url)).encode()
    yield b"]"

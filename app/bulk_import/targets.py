"""Where an import goes: the local store (through the store service, as STOW does) or any
DICOMweb server over STOW-RS (``requests``). A file is copied to a ``spool`` of the target
(at most ``limit`` bytes); ``send`` takes a batch of (item, spool) of Part-10 files and returns
one ``Outcome`` per file, in order; it never raises for a file. ``discard`` drops a spool."""
from __future__ import annotations

import io
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import IO, Any, Iterator, Protocol

from ..blobs import BlobStore, SpoolFile
from ..db import Database
from ..dicomweb import status
from ..models import Partition
from ..services import partitions as partition_service
from ..services import store as store_service
from .sources import Item

STORED, PRESENT, NOT_DICOM, FAILED = "stored", "already present", "not DICOM", "failed"
#: STOW answers that carry a response dataset; any other status fails the whole batch.
_DATASET_STATUSES = (200, 202, 409)
_RETRY_STATUSES = (502, 503, 504)
#: Bytes of a file held in memory on its way to a server (more go to a temporary file).
_IN_MEMORY = 1 << 20
_REFERENCED, _FAILED = "00081199", "00081198"
_SOP_INSTANCE, _FAILURE_REASON = "00081155", "00081197"


@dataclass(frozen=True)
class Outcome:
    kind: str
    reason: str | None = None


def failure(code: int | None) -> Outcome:
    """The outcome of a STOW failure reason: 45070 means the instance is already there."""
    if code == status.SOP_INSTANCE_ALREADY_EXISTS:
        return Outcome(PRESENT)
    return Outcome(FAILED, f"{code}" if code is not None else "no reason given")


class Spool(Protocol):
    def write(self, data: bytes) -> Any: ...


class Target(Protocol):
    limit: int | None

    def spool(self, index: int) -> Any: ...

    def discard(self, spool: Any) -> None: ...

    def send(self, batch: list[tuple[Item, Any]]) -> list[Outcome]: ...


class LocalTarget:
    """Straight into this server's store: the store service, one connection per batch."""

    def __init__(self, database: Database, blobs: BlobStore, partition_name: str,
                 limit: int | None = None) -> None:
        self.database, self.blobs, self.partition_name = database, blobs, partition_name
        self.limit = limit

    def spool(self, index: int) -> SpoolFile:
        """The first parts of a batch keep their head in memory, as in a STOW request."""
        return self.blobs.spool(store_service.HEAD_SIZE
                                if index < store_service.HEADS_PER_REQUEST else 0)

    def discard(self, spool: SpoolFile) -> None:
        spool.discard()

    def send(self, batch: list[tuple[Item, SpoolFile]]) -> list[Outcome]:
        spools = [spool for _, spool in batch]
        try:
            for spool in spools:
                spool.finish()
            with self.database.connection() as conn:
                partition = (partition_service.find_partition(conn, self.partition_name)
                             or Partition(None, self.partition_name))
                result = store_service.store_instances(conn, self.blobs, partition, spools, 2)
        except Exception as exc:  # the database or the disk failed: the whole batch
            return [Outcome(FAILED, f"{type(exc).__name__}: {exc}".rstrip(": "))] * len(batch)
        return [Outcome(STORED) if outcome.stored else failure(outcome.failure_reason)
                for outcome in result.outcomes]


class RemoteTarget:
    """STOW-RS to ``url`` (with ``/partitions/{name}`` when a partition is given): one
    multipart/related request per batch, a keep-alive session per worker thread."""

    def __init__(self, url: str, token: str | None = None, partition_name: str | None = None,
                 timeout: float = 600.0, attempts: int = 3) -> None:
        base = url.rstrip("/")
        if partition_name:
            base += f"/partitions/{partition_name}"
        self.url = f"{base}/studies"
        self.token, self.timeout, self.attempts = token, timeout, attempts
        self.limit = None  # the server answers 413 for what it will not take
        self._local = threading.local()

    def spool(self, index: int) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)

    def discard(self, spool: IO[bytes]) -> None:
        spool.close()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.headers["Accept"] = "application/dicom+json"
            if self.token:
                session.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = session
        return session

    def send(self, batch: list[tuple[Item, IO[bytes]]]) -> list[Outcome]:
        import requests

        boundary = uuid.uuid4().hex.encode()
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; '
                                   f"boundary={boundary.decode()}"}
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(attempt)
            try:
                response = self._session().post(self.url, data=_Body(boundary, batch),
                                                headers=headers,
                                                timeout=self.timeout)
            except requests.RequestException as exc:
                reason = f"connection: {type(exc).__name__}"
                continue
            if response.status_code in _DATASET_STATUSES:
                try:
                    return _outcomes(batch, response.json())
                except ValueError:
                    return [Outcome(FAILED, f"HTTP {response.status_code}: not DICOM JSON")
                            ] * len(batch)
            reason = f"HTTP {response.status_code}"
            text = response.text.strip()[:200]
            if text:
                reason += f": {text}"
            if response.status_code not in _RETRY_STATUSES:
                break
        return [Outcome(FAILED, reason)] * len(batch)


class _Body:
    """A multipart/related body of spooled files with its length, produced as it is sent in
    pieces of up to 1 MB (an iterable, not a file: http.client reads a file 8 KB at a time,
    one send each)."""

    def __init__(self, boundary: bytes, batch: list[tuple[Item, IO[bytes]]]) -> None:
        self._head = b"--%s\r\nContent-Type: application/dicom\r\n\r\n" % boundary
        self._tail = b"--%s--\r\n" % boundary
        self._spools = [spool for _, spool in batch]
        self.length = len(self._tail) + sum(
            len(self._head) + spool.seek(0, io.SEEK_END) + 2 for spool in self._spools)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        for spool in self._spools:
            spool.seek(0)
            yield self._head
            while chunk := spool.read(_IN_MEMORY):
                yield chunk
            yield b"\r\n"
        yield self._tail


def _sop_instance_uid(spool: IO[bytes]) -> str | None:
    from pydicom import dcmread

    try:
        spool.seek(0)
        ds = dcmread(spool, stop_before_pixels=True,
                     specific_tags=["SOPInstanceUID"])
        return str(ds.SOPInstanceUID)
    except Exception:  # unreadable: the server's answer cannot be matched by UID
        return None


def _outcomes(batch: list[tuple[Item, IO[bytes]]], body: dict[str, Any]) -> list[Outcome]:
    """Match the response dataset's referenced and failed instances to the files sent, by
    SOP Instance UID (a failure without one goes to the first unmatched file)."""
    stored: Counter[str] = Counter()
    for entry in body.get(_REFERENCED, {}).get("Value", []):
        uids = entry.get(_SOP_INSTANCE, {}).get("Value", [])
        if uids:
            stored[uids[0]] += 1
    failed: dict[str | None, deque[int | None]] = defaultdict(deque)
    for entry in body.get(_FAILED, {}).get("Value", []):
        uids = entry.get(_SOP_INSTANCE, {}).get("Value", [None])
        reasons = entry.get(_FAILURE_REASON, {}).get("Value", [None])
        failed[uids[0]].append(reasons[0])
    outcomes = []
    for _, spool in batch:
        uid = _sop_instance_uid(spool)
        if uid is not None and stored[uid] > 0:
            stored[uid] -= 1
            outcomes.append(Outcome(STORED))
        elif uid is not None and failed.get(uid):
            outcomes.append(failure(failed[uid].popleft()))
        elif failed.get(None):
            outcomes.append(failure(failed[None].popleft()))
        else:
            outcomes.append(Outcome(FAILED, "not in the server's answer"))
    return outcomes

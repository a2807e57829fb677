"""Blobs as objects in an S3-compatible bucket (issue #17, decisions §3): the same content
addressing, quarantine and store identity as ``filesystem.py``, through boto3.

Objects live at ``<prefix>blobs/<key>``; the sweep's quarantine is ``<prefix>quarantine/<key>``
and the store identity ``<prefix>store-id``. Incoming bytes are spooled to a local temporary
file (``spool.py``: hashed while written), then uploaded in one PUT, or by boto3's managed
multipart transfer above ``multipart_threshold``: an object is either absent or complete. The
time an object was written or last refreshed is its ``written`` metadata (seconds since the
epoch), falling back to its LastModified.

Credentials come from boto3's standard chain (environment, shared profile, instance role).
Every failure of the object store (unreachable, 5xx, throttled, refused credentials, missing
bucket) raises ``ObjectStoreError`` (503); a missing object raises ``FileNotFoundError`` as
the file system does.
"""
from __future__ import annotations

import base64
import datetime
import email.utils
import functools
import io
import os
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

import boto3
import botocore.session
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp

from ..errors import ObjectStoreError
from .base import KEY, BlobStore, checked_key, remove_old_files
from .ranged_reader import RangedReader
from .spool import SpoolFile

_T = TypeVar("_T")

#: Parts at least this large go up as a multipart upload (boto3's managed transfer).
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
#: GETs a streamed study or series keeps open ahead of the object it sends (FileBody).
OPEN_AHEAD = 3
_MISSING = {"NoSuchKey", "404", "NotFound"}
#: Error codes of a store asking its clients to slow down (S3's is SlowDown, with 503).
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
              "TooManyRequestsException", "RequestThrottled", "429"}
_WRITTEN = "written"


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def _throttled(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _THROTTLED


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', status)} ({status}): {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class S3BlobStore(BlobStore):
    """Blobs as objects in an S3 bucket, spooled through ``spool_dir`` on the local disk."""

    kind = "s3"
    cheap_exists = False
    open_ahead = OPEN_AHEAD

    def __init__(self, bucket: str, spool_dir: str | os.PathLike[str], prefix: str = "",
                 endpoint_url: str | None = None, region: str | None = None,
                 multipart_threshold: int = MULTIPART_THRESHOLD,
                 multipart_chunk: int = MULTIPART_CHUNK,
                 credentials: dict[str, str] | None = None) -> None:
        """``credentials``: explicit ``aws_access_key_id``/``aws_secret_access_key`` (tests);
        the server leaves them to boto3's standard chain."""
        self.bucket = bucket
        self.prefix = prefix
        self.description = f"Blob store (S3 bucket {bucket})"
        self.tmp = Path(spool_dir)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # No payload hash of botocore's own (it signs the body's SHA-256 over plain HTTP): a
        # PUT carries the body's SHA-256 as its checksum instead (the blob key), a signed
        # header the store checks the body against.
        s3_config: dict[str, Any] = {"payload_signing_enabled": False}
        if endpoint_url:
            s3_config["addressing_style"] = "path"
        # Three retries (four attempts) with jittered backoff: at most ~7 s of waiting when
        # throttled, under 0.4 s after a 5xx (botocore's standard mode); then ObjectStoreError.
        # No validation of each call's parameters against the service model (botocore's
        # parameter_validation): every call is built by this module, and the tests run them
        # all against a real store; it saves 5-8 % of botocore's work per request
        # (bench/RESULTS.md "s3").
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                        read_timeout=60, max_pool_connections=64,
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required", s3=s3_config,
                        parameter_validation=False)
        core = botocore.session.get_session()
        core.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=_parse_timestamp)
        session = boto3.session.Session(botocore_session=core)
        self._new_client = functools.partial(
            session.client, "s3", endpoint_url=endpoint_url or None,
            region_name=region or None, config=config, **(credentials or {}))
        self.client = self._new_client()
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=multipart_chunk, max_concurrency=4)
        self.multipart_threshold = multipart_threshold

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    # -- names and error mapping --

    def _object(self, key: str) -> str:
        checked_key(key)
        return f"{self.prefix}blobs/{key}"

    def _quarantined(self, key: str) -> str:
        checked_key(key)
        return f"{self.prefix}quarantine/{key}"

    def _call(self, what: str, work: Callable[[], _T], missing: Callable[[], _T] | None = None
              ) -> _T:
        """Run one S3 request: a missing object is ``missing()`` (FileNotFoundError without
        it), any other failure an ObjectStoreError naming ``what`` failed."""
        try:
            return work()
        except ClientError as exc:
            if _missing(exc):
                if missing is not None:
                    return missing()
                raise FileNotFoundError(what) from None
            raise ObjectStoreError(f"{what} in bucket {self.bucket}: {_reason(exc)}",
                                   throttled=_throttled(exc)) from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise ObjectStoreError(f"{what} in bucket {self.bucket}: {_reason(exc)}") from exc

    # -- writing --

    def spool(self, head_size: int = 0) -> SpoolFile:
        # No fsync: the spool is uploaded, and the object store makes the upload durable.
        return SpoolFile(self.tmp, False, head_size)

    def put(self, spool: SpoolFile) -> bool:
        """One conditional PUT (If-None-Match: a new object is one request); bytes already
        there are refreshed instead. A part above ``multipart_threshold`` is refreshed or
        uploaded by the managed multipart transfer."""
        name = self._object(spool.key)
        if spool.size >= self.multipart_threshold:
            if self._refresh(name):
                return False
            self._call(f"Uploading blob {spool.key}", lambda: self.client.upload_file(
                spool.name, self.bucket, name, Config=self.transfer,
                ExtraArgs={"Metadata": {_WRITTEN: f"{time.time():.3f}"}}))
            return True

        def upload() -> bool:
            try:
                self._put_object(spool, name, IfNoneMatch="*")
                return True
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed":  # there already
                    return False
                if code != "ConditionalRequestConflict":
                    raise
            # A concurrent conditional write in flight (AWS): write the same bytes.
            self._put_object(spool, name)
            return True
        if self._call(f"Uploading blob {spool.key}", upload):
            return True
        if self._refresh(name):
            return False
        # Gone between the two requests (quarantined, or removed after a delete): write it.
        self._call(f"Uploading blob {spool.key}", lambda: self._put_object(spool, name))
        return True

    def _put_object(self, spool: SpoolFile, name: str, **conditions: str) -> None:
        """One PUT of the spooled file, its SHA-256 (the key) the checksum the store checks
        the body against."""
        with open(spool.name, "rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body,
                                   Metadata={_WRITTEN: f"{time.time():.3f}"},
                                   ChecksumSHA256=_checksum(spool.key), **conditions)

    def _refresh(self, name: str) -> bool:
        """Make an existing object young again (False if there is none): a store that reuses
        an old unreferenced object is then outside the sweep's age margin (issue #15)."""
        def copy() -> bool:
            self.client.copy_object(
                Bucket=self.bucket, Key=name, CopySource={"Bucket": self.bucket, "Key": name},
                MetadataDirective="REPLACE", Metadata={_WRITTEN: f"{time.time():.3f}"})
            return True
        return self._call(f"Refreshing {name}", copy, missing=lambda: False)

    # -- reading --

    def open(self, key: str) -> BinaryIO:
        """A streaming handle on the object (read sequentially; one GET)."""
        name = self._object(key)
        response = self._call(f"Reading blob {key}",
                              lambda: self.client.get_object(Bucket=self.bucket, Key=name))
        return response["Body"]

    def open_range(self, key: str, offset: int, length: int,
                   size: int | None = None) -> BinaryIO:
        if length <= 0:
            return io.BytesIO()
        name = self._object(key)
        response = self._call(f"Reading blob {key}", lambda: self.client.get_object(
            Bucket=self.bucket, Key=name, Range=f"bytes={offset}-{offset + length - 1}"))
        return response["Body"]

    def open_seekable(self, key: str, size: int | None = None) -> BinaryIO:
        if size is None:
            size = self.size(key)
        return RangedReader(self.open_range, key, size)  # type: ignore[return-value]

    def _head(self, name: str, what: str) -> dict[str, Any]:
        return self._call(what, lambda: self.client.head_object(Bucket=self.bucket, Key=name))

    def local(self, key: str) -> bool:
        return False

    def exists(self, key: str) -> bool:
        name = self._object(key)
        return self._call(f"Checking blob {key}", lambda: bool(
            self.client.head_object(Bucket=self.bucket, Key=name)), missing=lambda: False)

    def size(self, key: str) -> int:
        return int(self._head(self._object(key), f"Checking blob {key}")["ContentLength"])

    def delete(self, key: str) -> None:
        name = self._object(key)
        self._call(f"Deleting blob {key}",
                   lambda: self.client.delete_object(Bucket=self.bucket, Key=name),
                   missing=lambda: None)

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=prefix))
        while True:
            page = self._call(f"Listing {prefix}", lambda: next(pages, None))
            if page is None:
                return
            yield from page.get("Contents", ())

    def keys(self) -> Iterator[str]:
        start = len(f"{self.prefix}blobs/")
        for entry in self._list(f"{self.prefix}blobs/"):
            key = entry["Key"][start:]
            if KEY.fullmatch(key):
                yield key

    @staticmethod
    def _written(head: dict[str, Any]) -> float:
        """When the object was written or refreshed: its ``written`` metadata (every write of
        this store sets it), else its LastModified."""
        try:
            return float(head.get("Metadata", {})[_WRITTEN])
        except (KeyError, ValueError):
            return head["LastModified"].timestamp()

    def age(self, key: str) -> float:
        return time.time() - self._written(self._head(self._object(key), f"Checking blob {key}"))

    def remove_stale_temporary(self, min_age_seconds: float) -> int:
        """Local spool files and the bucket's multipart uploads older than
        ``min_age_seconds`` (an upload a crash left unfinished)."""
        cutoff = time.time() - min_age_seconds
        removed = remove_old_files(self.tmp, cutoff)
        paginator = self.client.get_paginator("list_multipart_uploads")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix))
        while (page := self._call("Listing multipart uploads", lambda: next(pages, None))):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"].timestamp() < cutoff:
                    self._call("Aborting a multipart upload", functools.partial(
                        self.client.abort_multipart_upload, Bucket=self.bucket,
                        Key=upload["Key"], UploadId=upload["UploadId"]), missing=lambda: None)
                    removed += 1
        return removed

    # -- quarantine --

    def _move(self, source: str, target: str, what: str) -> bool:
        """Copy ``source`` to ``target`` (its age starts now), then delete ``source``; False
        if there is no ``source``."""
        def copy() -> bool:
            self.client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE", Metadata={_WRITTEN: f"{time.time():.3f}"})
            return True
        if not self._call(what, copy, missing=lambda: False):
            return False
        self._call(what, lambda: self.client.delete_object(Bucket=self.bucket, Key=source),
                   missing=lambda: None)
        return True

    def quarantine(self, key: str) -> bool:
        return self._move(self._object(key), self._quarantined(key), f"Quarantining {key}")

    def quarantined(self) -> Iterator[tuple[str, float]]:
        start = len(f"{self.prefix}quarantine/")
        for entry in self._list(f"{self.prefix}quarantine/"):
            key = entry["Key"][start:]
            if not KEY.fullmatch(key):
                continue
            try:
                head = self._head(entry["Key"], f"Checking quarantined {key}")
            except FileNotFoundError:
                continue
            yield key, time.time() - self._written(head)

    def purge_quarantined(self, key: str) -> None:
        name = self._quarantined(key)
        self._call(f"Purging {key}",
                   lambda: self.client.delete_object(Bucket=self.bucket, Key=name),
                   missing=lambda: None)

    def restore_quarantined(self, key: str) -> bool:
        return self._move(self._quarantined(key), self._object(key), f"Restoring {key}")

    def close(self) -> None:
        """A new client: the old one's pooled connections must not be shared with a forked
        process (app/server.py closes the store before it forks)."""
        old, self.client = self.client, self._new_client()
        old.close()

    # -- identity and health --

    def identity(self) -> str | None:
        name = f"{self.prefix}store-id"
        body = self._call("Reading the store identity", lambda: self.client.get_object(
            Bucket=self.bucket, Key=name)["Body"].read(), missing=lambda: b"")
        return body.decode().strip() or None

    def set_identity(self, identity: str) -> str:
        """Written with If-None-Match: of several servers starting at once, one wins."""
        name = f"{self.prefix}store-id"

        def write() -> None:
            try:
                self.client.put_object(Bucket=self.bucket, Key=name,
                                       Body=f"{identity}\n".encode(), IfNoneMatch="*")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                        "PreconditionFailed", "ConditionalRequestConflict"):
                    raise
        self._call("Writing the store identity", write)
        return self.identity() or identity

    def check(self, min_free_bytes: int = 0) -> None:
        """Write, read back and delete a probe object (the free room is the bucket's
        business: ``min_free_bytes`` is not checked)."""
        name = f"{self.prefix}health/{uuid.uuid4().hex}"
        self._call("Writing a probe", lambda: self.client.put_object(
            Bucket=self.bucket, Key=name, Body=b"ok"))
        try:
            body = self._call("Reading a probe", lambda: self.client.get_object(
                Bucket=self.bucket, Key=name)["Body"].read())
            if body != b"ok":
                raise ObjectStoreError("The object store read back different bytes")
        finally:
            self._call("Deleting a probe", lambda: self.client.delete_object(
                Bucket=self.bucket, Key=name), missing=lambda: None)

    def check_bucket(self) -> None:
        """Raise ObjectStoreError unless the bucket exists and the credentials may use it
        (startup)."""
        self._call("Opening the bucket", lambda: self.client.head_bucket(Bucket=self.bucket),
                   missing=lambda: _no_bucket(self.bucket))


def _parse_timestamp(text: str) -> datetime.datetime:
    """A response's timestamp (every GET's Last-Modified header; LastModified in listings):
    the two forms S3 sends parsed by the standard library, anything else by botocore's parser
    (dateutil: ~0.1 ms each, 6 % of a GET's CPU in our process)."""
    try:
        if text[:1].isdigit():  # ISO 8601 (XML bodies)
            value = datetime.datetime.fromisoformat(text)
        else:  # RFC 7231 (headers)
            value = email.utils.parsedate_to_datetime(text)
        if value.tzinfo is not None:
            return value
    except (TypeError, ValueError, IndexError):
        pass
    return parse_timestamp(text)


def _checksum(key: str) -> str:
    """The x-amz-checksum-sha256 of a blob: its key (the SHA-256 hex digest), in base64."""
    return base64.b64encode(bytes.fromhex(key)).decode()


def _no_bucket(bucket: str) -> None:
    raise ObjectStoreError(f"The bucket {bucket} does not exist")

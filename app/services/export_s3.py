"""The ``s3`` export destination (decisions "Export"): objects in a bucket the operator allows,
through boto3, with the server's credentials.

A request names ``bucket``, ``prefix`` (optional) and ``endpointUrl`` (optional); the server's
configuration says which buckets (``DICOM_EXPORT_S3_BUCKETS``) and endpoints
(``DICOM_EXPORT_S3_ENDPOINT_URLS``) may be written, and with which credentials (boto3's
standard chain, or ``DICOM_EXPORT_S3_ACCESS_KEY_ID``/``..._SECRET_ACCESS_KEY``), so a request
never carries a secret nor sends the server's credentials anywhere the operator did not list.

An object is written whole by one PUT (or boto3's managed multipart upload, completed only
once every part is in), so a reader never sees half a file, and a resumed batch replaces its
objects. S3 has no append: each checkpoint's error lines go to ``<id>/errors/<batch>.log``
(a batch run again replaces its own), and the run's end joins them into ``<id>/errors.log``,
streamed through a local temporary file.
"""
from __future__ import annotations

import contextlib
import re
import tempfile
from typing import Any, BinaryIO

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from ..errors import ExportRequestError
from .export_destinations import CHUNK, Destination, DestinationError, ExportSettings

S3_NOT_CONFIGURED = ("The s3 export destination is not configured on this server "
                     "(DICOM_EXPORT_S3_BUCKETS).")
BUCKET_MISSING = "The s3 export destination needs a bucket."
BUCKET_NOT_ALLOWED = "The bucket '{bucket}' is not an allowed export bucket."
ENDPOINT_NOT_ALLOWED = "The endpoint '{endpoint}' is not an allowed export endpoint."
PREFIX_INVALID = "The prefix '{prefix}' is not a valid object key prefix."
NO_BUCKET = "The bucket '{bucket}' does not exist."
NO_CONNECTION = "Cannot connect to the S3 endpoint of bucket '{bucket}'."
NOT_AUTHORIZED = "Unable to authenticate for bucket '{bucket}'."
WRITE_FAILED = "Failed to write to bucket '{bucket}'."
#: At most 512 characters of printable ASCII without backslashes; no '..' segment.
_PREFIX = re.compile(r"[\x20-\x5b\x5d-\x7e]{0,512}")
#: Objects at least this large are uploaded in parts of this size, one at a time (memory flat).
PART_SIZE = 16 * 1024 * 1024
_TRANSFER = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                           max_concurrency=1, use_threads=False, io_chunksize=CHUNK)
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403",
               "AuthorizationHeaderMalformed", "InvalidToken", "ExpiredToken"}


def _normal_endpoint(url: str) -> str:
    return url.strip().rstrip("/")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Destination(Destination):
    """``<prefix><operationId>/...`` in ``bucket``."""

    kind = "s3"

    def __init__(self, settings: ExportSettings, bucket: str, prefix: str,
                 endpoint_url: str | None, operation_id: str) -> None:
        self.settings, self.bucket, self.prefix = settings, bucket, prefix
        self.endpoint_url, self.operation_id = endpoint_url, operation_id
        self.base = f"{prefix}{operation_id}/"
        credentials = {}
        if settings.s3_access_key_id:
            credentials = {"aws_access_key_id": settings.s3_access_key_id,
                           "aws_secret_access_key": settings.s3_secret_access_key}
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                        read_timeout=60, s3={"addressing_style": "path"} if endpoint_url else None)
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=settings.s3_region or None,
            config=config, **credentials)

    @classmethod
    def _checked(cls, settings: ExportSettings, bucket: str, prefix: str,
                 endpoint: str | None, operation_id: str, error: type[Exception]
                 ) -> "S3Destination":
        """The destination, if the configuration allows it; ``error`` otherwise."""
        if not settings.s3_buckets:
            raise error(S3_NOT_CONFIGURED)
        if not bucket:
            raise error(BUCKET_MISSING)
        if "*" not in settings.s3_buckets and bucket not in settings.s3_buckets:
            raise error(BUCKET_NOT_ALLOWED.format(bucket=bucket))
        allowed = [_normal_endpoint(url) for url in settings.s3_endpoint_urls]
        if endpoint is None:
            endpoint = allowed[0] if allowed else None
        elif _normal_endpoint(endpoint) not in allowed:
            raise error(ENDPOINT_NOT_ALLOWED.format(endpoint=endpoint))
        else:
            endpoint = _normal_endpoint(endpoint)
        if not _PREFIX.fullmatch(prefix) or ".." in prefix.split("/"):
            raise error(PREFIX_INVALID.format(prefix=prefix))
        prefix = prefix.strip("/")
        return cls(settings, bucket, f"{prefix}/" if prefix else "", endpoint, operation_id)

    @classmethod
    def from_request(cls, settings: ExportSettings, options: dict[str, Any],
                     operation_id: str) -> "S3Destination":
        return cls._checked(settings, options.get("bucket", ""), options.get("prefix", ""),
                            options.get("endpointUrl"), operation_id, ExportRequestError)

    @classmethod
    def from_payload(cls, settings: ExportSettings, payload: dict[str, Any],
                     operation_id: str) -> "S3Destination":
        return cls._checked(settings, payload["bucket"], payload["prefix"],
                            payload.get("endpointUrl"), operation_id, DestinationError)

    def payload(self) -> dict[str, Any]:
        return {"type": self.kind, "bucket": self.bucket, "prefix": self.prefix,
                "endpointUrl": self.endpoint_url}

    @property
    def error_href(self) -> str:
        return f"s3://{self.bucket}/{self.base}errors.log"

    def prepare(self) -> None:
        try:
            # The bucket must exist (some S3-compatible stores would create it on a PUT).
            self.client.head_bucket(Bucket=self.bucket)
            self.client.put_object(Bucket=self.bucket, Key=f"{self.base}errors.log", Body=b"")
        except ClientError as exc:
            code = _code(exc)
            if code in ("NoSuchBucket", "404", "NotFound"):
                raise ExportRequestError(NO_BUCKET.format(bucket=self.bucket)) from None
            if code in _AUTH_CODES:
                raise ExportRequestError(NOT_AUTHORIZED.format(bucket=self.bucket)) from None
            raise ExportRequestError(WRITE_FAILED.format(bucket=self.bucket)) from None
        except EndpointConnectionError:
            raise ExportRequestError(NO_CONNECTION.format(bucket=self.bucket)) from None
        except (BotoCoreError, Boto3Error):
            raise ExportRequestError(WRITE_FAILED.format(bucket=self.bucket)) from None

    def write(self, name: str, source: BinaryIO) -> None:
        self.client.upload_fileobj(source, self.bucket, f"{self.base}{name}", Config=_TRANSFER)

    def append_errors(self, lines: list[str], batch: int) -> None:
        if lines:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.base}errors/{batch:09d}.log",
                                   Body="".join(lines).encode())

    def finish(self, resumed: bool) -> None:
        """Join the batches' error lines into ``errors.log`` (in batch order), then remove
        them."""
        parts = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.base}errors/"):
            parts += [entry["Key"] for entry in page.get("Contents", ())]
        if not parts:
            return
        with tempfile.TemporaryFile() as joined:
            for key in sorted(parts):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with contextlib.closing(body):
                    for chunk in iter(lambda: body.read(CHUNK), b""):
                        joined.write(chunk)
            joined.seek(0)
            self.client.upload_fileobj(joined, self.bucket, f"{self.base}errors.log",
                                       Config=_TRANSFER)
        for first in range(0, len(parts), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": key} for key in parts[first:first + 1000]], "Quiet": True})

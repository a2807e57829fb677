"""Helpers for WADO tests: URLs and multipart/related response parsing."""
from __future__ import annotations

import io
from typing import Any

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.dicomweb.media_types import parse_header


def instance_url(base: str, ds: Dataset, prefix: str = "") -> str:
    return (f"{prefix}{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def parts(response: Any) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part of a multipart/related response."""
    media, params = parse_header(response.headers["Content-Type"])
    assert media == "multipart/related"
    boundary = params["boundary"].encode()
    body = response.get_data()
    assert body.endswith(b"--" + boundary + b"--\r\n")
    found = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        assert content.endswith(b"\r\n")
        content_type = head.decode().split(":", 1)[1].strip()
        found.append((content_type, content[:-2]))
    return found


def read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def bundled_file(name: str, fresh_uids: bool = False) -> tuple[bytes, Dataset]:
    """Bytes and header of one of pydicom's bundled test files (never downloaded); with
    ``fresh_uids`` re-saved with new UIDs (several bundled files share theirs)."""
    path = get_testdata_file(name, download=False)
    with open(path, "rb") as handle:
        data = handle.read()
    if fresh_uids:
        ds = dcmread(io.BytesIO(data))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
    return data, dcmread(io.BytesIO(data), stop_before_pixels=True)

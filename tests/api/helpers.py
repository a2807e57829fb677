"""Helpers for API tests: storing instances and reading DICOM JSON."""
from __future__ import annotations

import http.client
from typing import Any

from tests.dicom_factory import multipart, to_bytes

DICOM_JSON = "application/dicom+json"


def store(client: Any, base: str, *datasets: Any, prefix: str = "", study: str | None = None,
          headers: dict[str, str] | None = None) -> Any:
    """STOW datasets (or raw bytes) as one multipart request; return the response."""
    parts = [d if isinstance(d, bytes) else to_bytes(d) for d in datasets]
    body, content_type = multipart(parts)
    url = f"{prefix}{base}/studies" + (f"/{study}" if study else "")
    return client.post(url, data=body, headers={"Content-Type": content_type, **(headers or {})})


def values(dataset: dict[str, Any], tag: str) -> list[Any]:
    """The Value array of a tag in a DICOM JSON dataset ([] when absent)."""
    return dataset.get(tag, {}).get("Value", [])


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request to a real server on 127.0.0.1:port; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data

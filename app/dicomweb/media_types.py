"""Media types and header parameters (RFC 9110, RFC 2387)."""
from __future__ import annotations

from email.message import Message
from functools import lru_cache

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
MULTIPART_RELATED = "multipart/related"


def parse_header(value: str | None) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; a=b; c="d"`` into the lower-cased media type and its parameters
    (parameter names lower-cased, quotes removed)."""
    if not value:
        return "", {}
    media, params = _parse(value)
    return media, dict(params)


@lru_cache(maxsize=1024)
def _parse(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """parse_header's work, kept for the values seen most (Accept and Content-Type values
    repeat from request to request; email.message's parser is slow)."""
    message = Message()
    message["content-type"] = value
    params = message.get_params(header="content-type") or []
    media = value.split(";", 1)[0].strip().lower()
    parsed = {}
    for key, val in params[1:]:
        parsed[key.lower()] = val if isinstance(val, str) else str(val)
    return media, tuple(parsed.items())


def accepts_dicom_json(accept: str | None) -> bool:
    """STOW/QIDO/metadata Accept check. No header means ``*/*`` (decisions §7)."""
    if accept is None or not accept.strip():
        return True
    for item in accept.split(","):
        media, _ = parse_header(item.strip())
        if media in (DICOM_JSON, "application/json", "application/*", "*/*"):
            return True
    return False

"""WADO-RS Accept negotiation (PS3.18 §8.7, reference.md §4.2 and §4.5, decisions §5).

Each resource has a table of acceptable media types: whether they may be single part and/or
multipart, which transfer syntaxes may be asked for, and the transfer syntax used when the
header names none. The header's values are tried best quality first; among equal qualities
an explicit ``transfer-syntax=*`` wins. No header means ``*/*`` (decisions §5).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from ..errors import NotAcceptableError
from .media_types import parse_header

ORIGINAL = "*"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
JP2 = "image/jp2"
JPEG = "image/jpeg"
PNG = "image/png"
ANY = "*/*"
MULTIPART_RELATED = "multipart/related"

MULTIPLE_ACCEPT_HEADERS = "The request contains multiple accept headers, which is not supported."


@dataclass(frozen=True, slots=True)
class AcceptValue:
    """One media range of an Accept header, multipart/related unwrapped to its ``type``."""

    media_type: str
    multipart: bool
    transfer_syntax: str | None
    quality: float


@dataclass(frozen=True, slots=True)
class Rule:
    """An acceptable media type of a resource (one row of reference.md §4.2's table)."""

    media_type: str
    single_part: bool
    multipart: bool
    transfer_syntaxes: frozenset[str]
    default_transfer_syntax: str
    #: The media type of the response parts (``*/*`` answers with the resource's own type).
    response_media_type: str


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What to send: the part media type, multipart or not, and the transfer syntax."""

    media_type: str
    multipart: bool
    transfer_syntax: str


_DICOM_SYNTAXES = frozenset({ORIGINAL, EXPLICIT_VR_LITTLE_ENDIAN, JPEG_2000_LOSSLESS})
_FRAME_SYNTAXES = frozenset({ORIGINAL, EXPLICIT_VR_LITTLE_ENDIAN})

STUDY_RULES = (
    Rule(DICOM, False, True, _DICOM_SYNTAXES, EXPLICIT_VR_LITTLE_ENDIAN, DICOM),
    Rule(ANY, False, True, _DICOM_SYNTAXES, ORIGINAL, DICOM),
)
INSTANCE_RULES = (
    Rule(DICOM, True, True, _DICOM_SYNTAXES, EXPLICIT_VR_LITTLE_ENDIAN, DICOM),
    Rule(ANY, False, True, _DICOM_SYNTAXES, ORIGINAL, DICOM),
)
FRAME_RULES = (
    Rule(OCTET_STREAM, True, True, _FRAME_SYNTAXES, EXPLICIT_VR_LITTLE_ENDIAN, OCTET_STREAM),
    Rule(JP2, False, True, frozenset({JPEG_2000_LOSSLESS}), JPEG_2000_LOSSLESS, JP2),
    Rule(ANY, False, True, _FRAME_SYNTAXES, ORIGINAL, OCTET_STREAM),
)
#: Bulk data (decisions §5): the stored bytes, single part or multipart.
BULKDATA_RULES = (
    Rule(OCTET_STREAM, True, True, frozenset({ORIGINAL}), ORIGINAL, OCTET_STREAM),
    Rule(ANY, True, True, frozenset({ORIGINAL}), ORIGINAL, OCTET_STREAM),
)


def _split(header: str) -> list[str]:
    """Split on commas outside quoted strings."""
    items, current, quoted = [], [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _quality(params: dict[str, str]) -> float | None:
    text = params.get("q")
    if text is None:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def parse_accept(header: str | None) -> list[AcceptValue]:
    """The media ranges of an Accept header; malformed ranges are left out (never matched)."""
    if header is None or not header.strip():
        return [AcceptValue(ANY, False, None, 1.0)]
    values = []
    for item in _split(header):
        try:
            media, params = parse_header(item)
        except Exception:  # noqa: BLE001 - a malformed range is simply not acceptable
            continue
        quality = _quality(params)
        if "/" not in media or quality is None:
            continue
        multipart = media == MULTIPART_RELATED
        if multipart:
            media = params.get("type", "").strip().lower()
            if media and "/" not in media:
                continue
        values.append(AcceptValue(media, multipart, params.get("transfer-syntax"), quality))
    return values


#: Accept headers longer than this are negotiated without the cache (clients send a few
#: short ones; a long one must not take the cache's memory).
_CACHED_HEADER_LENGTH = 512


def negotiate(header: str | None, rules: Iterable[Rule]) -> Negotiated:
    """Pick the response format for a retrieve, or raise the reference's 406."""
    rules = tuple(rules)
    if header is None or len(header) <= _CACHED_HEADER_LENGTH:
        return _negotiate_cached(header, rules)
    return _negotiate(header, rules)


@lru_cache(maxsize=256)
def _negotiate_cached(header: str | None, rules: tuple[Rule, ...]) -> Negotiated:
    return _negotiate(header, rules)  # a 406 is raised again each time (not cached)


def _negotiate(header: str | None, rules: tuple[Rule, ...]) -> Negotiated:
    candidates = []
    for position, value in enumerate(parse_accept(header)):
        if value.quality <= 0:
            continue
        # multipart/related without ``type``: the resource's own media type
        media = value.media_type or rules[0].media_type
        for rule in rules:
            if media != rule.media_type:
                continue
            if not (rule.multipart if value.multipart else rule.single_part):
                # ``*/*`` (and a plain type that only multipart serves) answer multipart
                if value.multipart or rule.media_type != ANY:
                    continue
            syntax = value.transfer_syntax
            syntax = rule.default_transfer_syntax if syntax is None else syntax.strip()
            if syntax not in rule.transfer_syntaxes:
                continue
            multipart = value.multipart or not rule.single_part
            explicit_original = value.transfer_syntax is not None and syntax == ORIGINAL
            candidates.append((-value.quality, not explicit_original, position,
                               Negotiated(rule.response_media_type, multipart, syntax)))
            break
    if not candidates:
        raise NotAcceptableError()
    candidates.sort(key=lambda c: c[:3])
    return candidates[0][3]


def negotiate_rendered(header: str | None) -> str:
    """The image type of a rendered response (reference.md §4.5): ``image/jpeg`` or ``image/png``.

    No header, ``*/*`` or ``image/*`` mean JPEG (decisions §5 treat no header as ``*/*``).
    """
    if header is None or not header.strip():
        return JPEG
    items = _split(header)
    if len(items) > 1:
        raise NotAcceptableError(MULTIPLE_ACCEPT_HEADERS)
    try:
        media, params = parse_header(items[0])
    except Exception:  # noqa: BLE001
        raise NotAcceptableError() from None
    if _quality(params) in (None, 0.0):
        raise NotAcceptableError()
    if media in (JPEG, PNG):
        return media
    if media in (ANY, "image/*"):
        return JPEG
    raise NotAcceptableError()

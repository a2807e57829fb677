"""The change feed (reference.md §7): query options per API version, and reads.

v1 (``/v1``, ``/v1.0-prerelease``): ``offset`` is a sequence number (entries with
``offset < sequence <= offset + limit``), ``limit`` 1-100 default 10. v2 (``/v2`` and
unversioned): a time window ``[startTime, endTime)`` with a mandatory zone, ``offset`` counts
rows, ``limit`` 1-200 default 100, ordered by (timestamp, sequence). Both take
``includeMetadata`` (default true). Invalid values give the reference's model-binding texts.
A partition (``/partitions/{p}/changefeed``) restricts every read to that partition's entries.

Every read shows only entries below the feed's bounds (``dao.get_bounds``): with several
writers (threads, processes, nodes) a sequence value or timestamp taken earlier may commit
later, and a reader that had moved past it would never see it (PostgreSQL: schema 0140).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Mapping

from ..dao import change_feed as dao
from ..dao.change_feed import ChangeFeedEntry
from ..db import DbConn
from ..dicomweb.numbers import INT32_MAX, binding_error, boolean_value, bounded_integer
from ..models import Partition

LONG_MAX = 2 ** 63 - 1
MIN_TIME = datetime.min.replace(tzinfo=timezone.utc)
MAX_TIME = datetime.max.replace(tzinfo=timezone.utc)
TIME_ZONE_REQUIRED = "Date and time value must specify a time zone."

# A '+' of an unencoded offset arrives as a space: "...T10:58:00 01:00".
_SPACE_OFFSET = re.compile(r"^(.*\d) (\d{2}:?\d{2})$")
# The seconds' fraction: .NET keeps it to 100 ns ticks (rounded), Python to microseconds.
_FRACTION = re.compile(r"(?<=[0-9]{2}:[0-9]{2}:[0-9]{2})[.,]([0-9]+)")
TICKS_PER_SECOND = 10 ** 7
MAX_TICKS = 3155378975999999999  # DateTimeOffset.MaxValue: 9999-12-31T23:59:59.9999999

__all__ = ["ChangeFeedEntry", "FeedOptions", "get_change_feed", "get_change_feed_latest",
           "parse_feed_options", "parse_include_metadata"]


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """Validated change-feed query parameters."""

    version: int
    offset: int
    limit: int
    include_metadata: bool
    start_time: datetime = MIN_TIME
    end_time: datetime = MAX_TIME


def _get(args: Mapping[str, str], name: str) -> str | None:
    """The first value of a query parameter; names match case-insensitively (ASP.NET)."""
    for key in args:
        if key.lower() == name.lower():
            return args[key]
    return None


def _integer(args: Mapping[str, str], name: str, key: str, default: int, minimum: int,
             maximum: int, type_max: int) -> int:
    raw = _get(args, name)
    if raw is None:
        return default
    return bounded_integer(key, raw, minimum, maximum, type_max)


def parse_include_metadata(args: Mapping[str, str]) -> bool:
    """``includeMetadata``: true/false in any case (.NET bool), default true."""
    raw = _get(args, "includeMetadata")
    if raw is None:
        return True
    return boolean_value("includeMetadata", raw)


def _ticks(value: datetime) -> int:
    """100 ns ticks since 0001-01-01T00:00:00Z of an aware time (may be out of range)."""
    delta = value - MIN_TIME
    return ((delta.days * 86400 + delta.seconds) * 10 ** 6 + delta.microseconds) * 10


def _time(args: Mapping[str, str], name: str, key: str, default: int) -> int:
    """A time parameter in ticks (DateTimeOffset's precision), clamped to its range."""
    raw = _get(args, name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    spaced = _SPACE_OFFSET.match(text)
    if spaced and ("T" in text or " " in spaced.group(1)):
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    fraction = 0
    found = _FRACTION.search(text)
    if found:
        digits = found.group(1)[:20]
        fraction = round(Fraction(int(digits), 10 ** len(digits)) * TICKS_PER_SECOND)
        text = text[:found.start()] + text[found.end():]
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        # The reference adds the FormatException itself, whose model-state message is empty.
        raise binding_error(key, "") from None
    if value.tzinfo is None:
        raise binding_error(key, TIME_ZONE_REQUIRED)
    return min(max(_ticks(value) + fraction, 0), MAX_TICKS)  # beyond year 1 or 9999 in UTC


def _query_time(ticks: int) -> datetime:
    """The first stored (microsecond) timestamp at or after ``ticks``."""
    microseconds = min(-(-ticks // 10), _ticks(MAX_TIME) // 10)
    return MIN_TIME + timedelta(microseconds=microseconds)


def format_round_trip(ticks: int) -> str:
    """.NET's ``{0:O}`` of a UTC DateTimeOffset: seven fraction digits and ``+00:00``."""
    value = MIN_TIME + timedelta(microseconds=ticks // 10)
    return (f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{value.microsecond:06d}{ticks % 10}"
            "+00:00")


def parse_feed_options(args: Mapping[str, str], version: int) -> FeedOptions:
    """Validate the query of ``GET .../changefeed`` for an API version (1 or 2)."""
    if version == 1:
        offset = _integer(args, "offset", "offset", 0, 0, LONG_MAX, LONG_MAX)
        limit = _integer(args, "limit", "limit", 10, 1, 100, INT32_MAX)
        return FeedOptions(1, offset, limit, parse_include_metadata(args))
    start = _time(args, "startTime", "StartTime", 0)
    end = _time(args, "endTime", "EndTime", MAX_TICKS)
    offset = _integer(args, "offset", "Offset", 0, 0, INT32_MAX, INT32_MAX)
    limit = _integer(args, "limit", "Limit", 100, 1, 200, INT32_MAX)
    if end <= start:
        raise binding_error("", f"The start time '{format_round_trip(start)}' must occur "
                                f"strictly before the end time '{format_round_trip(end)}'.")
    return FeedOptions(2, offset, limit, parse_include_metadata(args), _query_time(start),
                       _query_time(end))


def _key(partition: Partition | None) -> int | None:
    return None if partition is None else partition.partition_key


def _end_sequence(bounds: dao.Bounds, end: int = LONG_MAX) -> int:
    return end if bounds.sequence is None else min(end, bounds.sequence)


def _end_time(bounds: dao.Bounds, end: datetime = MAX_TIME) -> datetime:
    return end if bounds.time is None else min(end, bounds.time)


def get_change_feed(conn: DbConn, partition: Partition | None,
                    options: FeedOptions) -> list[ChangeFeedEntry]:
    """A page of the feed, global (partition None) or of one partition."""
    key = _key(partition)
    bounds = dao.get_bounds(conn)
    if options.version == 1:
        if key is None:
            end = _end_sequence(bounds, min(options.offset + options.limit, LONG_MAX))
            return dao.list_by_sequence(conn, options.offset, end, options.include_metadata)
        return dao.list_by_sequence_in_partition(conn, key, options.offset,
                                                 _end_sequence(bounds), options.limit,
                                                 options.include_metadata)
    end_time = _end_time(bounds, options.end_time)
    if end_time <= options.start_time:
        return []
    return dao.list_by_time(conn, key, options.start_time, end_time, options.offset,
                            options.limit, options.include_metadata)


def get_change_feed_latest(conn: DbConn, partition: Partition | None, version: int,
                           include_metadata: bool) -> ChangeFeedEntry | None:
    """The latest entry: highest sequence (v1) or latest (timestamp, sequence) (v2)."""
    bounds = dao.get_bounds(conn)
    if version >= 2:
        return dao.get_latest(conn, _key(partition), None, _end_time(bounds), include_metadata)
    return dao.get_latest(conn, _key(partition), _end_sequence(bounds), None, include_metadata)

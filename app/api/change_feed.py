"""Change feed: ``GET [/vN]/changefeed[/latest]`` (global, reference.md §7) and
``GET [/vN]/partitions/{p}/changefeed[/latest]`` (one partition's entries only)."""
from __future__ import annotations

import dataclasses
import json

from flask import Blueprint, Response, g, jsonify, request

from ..dicomweb.json_model import with_bulkdata_base
from ..partitioning import resource_base_url, scope
from ..schemas.change_feed import change_feed_entry_schema, change_feed_schema
from ..services import change_feed as service
from .edge import api_version, get_db, no_content

# Plain routes stay global when partitions are on (g.partition None); partitioned routes
# resolve the partition (unknown -> 400, feature off -> 400).
bp = scope(Blueprint("change_feed", __name__), optional=True)


def _with_metadata(entry: service.ChangeFeedEntry) -> service.ChangeFeedEntry:
    """Parse the stored DICOM JSON, resolving bulk data to this server's absolute URLs."""
    if entry.metadata is None:
        return entry
    instance_url = (f"{resource_base_url(entry.partition_name)}/studies/"
                    f"{entry.study_instance_uid}/series/{entry.series_instance_uid}/instances/"
                    f"{entry.sop_instance_uid}")
    return dataclasses.replace(
        entry, metadata=json.loads(with_bulkdata_base(entry.metadata, instance_url)))


@bp.get("/changefeed")
def get_change_feed() -> Response:
    """A page of change-feed entries (JSON array, possibly empty)."""
    options = service.parse_feed_options(request.args, api_version())
    entries = service.get_change_feed(get_db(), g.partition, options)
    return jsonify(change_feed_schema.dump([_with_metadata(e) for e in entries]))


@bp.get("/changefeed/latest")
def get_change_feed_latest() -> Response:
    """The latest entry (JSON object), or 204 when the feed is empty."""
    include_metadata = service.parse_include_metadata(request.args)
    entry = service.get_change_feed_latest(get_db(), g.partition, api_version(),
                                           include_metadata)
    if entry is None:
        return no_content()
    return jsonify(change_feed_entry_schema.dump(_with_metadata(entry)))

"""Which data action each route needs, and where (reference-2.md §4.3): one table for every route.

Endpoints are named without their version and partition registration prefixes
(``v1_partitioned_stow.store_instances`` -> ``stow.store_instances``). A route missing from
the table is denied to everyone when authorization is on (and authenticated when security is
on); ``tests/api/test_security_routes.py`` fails for any URL rule without an entry, so a new
route cannot be forgotten.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .actions import DataAction

#: No token needed (reference: health checks and static files sit outside MVC).
ANONYMOUS = "anonymous"
#: The action must be granted in the partition the request addresses; checked where the
#: partition is resolved (app/partitioning.py). A route that addresses no partition (the
#: global change feed) needs it in scope ``/``.
PARTITION = "partition"
#: The action must be granted in scope ``/`` (resources that span partitions).
GLOBAL = "global"
#: The action must be granted in some scope; the view lists only what the caller may see.
FILTERED = "filtered"

_READ, _WRITE, _DELETE = DataAction.READ, DataAction.WRITE, DataAction.DELETE
_MANAGE_TAGS = DataAction.MANAGE_EXTENDED_QUERY_TAGS


@dataclass(frozen=True)
class RouteRule:
    action: DataAction
    scope: str


#: endpoint -> what it needs. Keep in step with reference-2.md §4.3 and docs/security.md.
ROUTES: dict[str, RouteRule] = {
    "health.health_check": RouteRule(DataAction.NONE, ANONYMOUS),
    "static": RouteRule(DataAction.NONE, ANONYMOUS),
    # Operator routes (#22): /metrics checks its own token (DICOM_METRICS_TOKEN; not served
    # with security on without one); the API description and its page hold no data.
    "metrics.scrape": RouteRule(DataAction.NONE, ANONYMOUS),
    "openapi.document": RouteRule(DataAction.NONE, ANONYMOUS),
    "swagger_ui.show": RouteRule(DataAction.NONE, ANONYMOUS),
    # STOW (partition auto-create needs write as well)
    "stow.store_instances": RouteRule(_WRITE, PARTITION),
    "stow.store_instances_in_study": RouteRule(_WRITE, PARTITION),
    # WADO
    **{f"wado.{name}": RouteRule(_READ, PARTITION) for name in (
        "retrieve_study", "retrieve_series", "retrieve_instance", "retrieve_frames",
        "retrieve_study_metadata", "retrieve_series_metadata", "retrieve_instance_metadata",
        "retrieve_rendered_instance", "retrieve_rendered_frame", "retrieve_bulkdata")},
    # QIDO
    **{f"qido.{name}": RouteRule(_READ, PARTITION) for name in (
        "search_for_studies", "search_for_series", "search_for_instances",
        "search_for_series_in_study", "search_for_instances_in_study",
        "search_for_instances_in_series")},
    # QIDO across partitions (#20): every partition's data, so read in scope '/'
    **{f"qido_all_partitions.{name}": RouteRule(_READ, GLOBAL) for name in (
        "search_for_studies", "search_for_series", "search_for_instances",
        "search_for_series_in_study", "search_for_instances_in_study",
        "search_for_instances_in_series")},
    # Bulk update (v2; the partition must exist, so its lookup needs read too)
    "bulk_update.bulk_update_studies": RouteRule(_WRITE, PARTITION),
    # DELETE
    "delete.delete_study": RouteRule(_DELETE, PARTITION),
    "delete.delete_series": RouteRule(_DELETE, PARTITION),
    "delete.delete_instance": RouteRule(_DELETE, PARTITION),
    # Change feed: a partition's own feed, or the global one (scope '/')
    "change_feed.get_change_feed": RouteRule(_READ, PARTITION),
    "change_feed.get_change_feed_latest": RouteRule(_READ, PARTITION),
    # UPS-RS workitems
    "workitems.create_workitem": RouteRule(_WRITE, PARTITION),
    "workitems.update_workitem": RouteRule(_WRITE, PARTITION),
    "workitems.change_workitem_state": RouteRule(_WRITE, PARTITION),
    "workitems.request_cancellation": RouteRule(_WRITE, PARTITION),
    "workitems.search_workitems": RouteRule(_READ, PARTITION),
    "workitems.retrieve_workitem": RouteRule(_READ, PARTITION),
    # Export: the export action in the partition (and read, as every partition lookup)
    "export.export": RouteRule(DataAction.EXPORT, PARTITION),
    # Partitions: everyone with read somewhere; the list shows the caller's partitions only
    "partitions.list_partitions": RouteRule(_READ, FILTERED),
    # One partition's statistics: read in that partition (checked by the view, issue #20)
    "partitions.get_partition": RouteRule(_READ, FILTERED),
    # Renaming, quotas (and deleting) change what every caller sees: scope '/'
    "partitions.update_partition": RouteRule(DataAction.MANAGE_PARTITIONS, GLOBAL),
    "partitions.delete_partition": RouteRule(DataAction.MANAGE_PARTITIONS, GLOBAL),
    # Extended query tags and their errors span every partition; so do re-index operations
    "extended_query_tags.list_extended_query_tags": RouteRule(_READ, GLOBAL),
    "extended_query_tags.get_extended_query_tag": RouteRule(_READ, GLOBAL),
    "extended_query_tags.list_extended_query_tag_errors": RouteRule(_READ, GLOBAL),
    "extended_query_tags.add_extended_query_tags": RouteRule(_MANAGE_TAGS, GLOBAL),
    "extended_query_tags.delete_extended_query_tag": RouteRule(_MANAGE_TAGS, GLOBAL),
    "extended_query_tags.update_extended_query_tag": RouteRule(_MANAGE_TAGS, GLOBAL),
    "operations.get_operation": RouteRule(_READ, GLOBAL),
}

_REGISTRATION_PREFIX = re.compile(r"^(?:v1_|v1pre_|v2_)?(?:partitioned_)?")


@functools.lru_cache(maxsize=512)
def route_key(endpoint: str) -> str:
    """The table key of a registered endpoint."""
    return _REGISTRATION_PREFIX.sub("", endpoint, count=1)


def rule_for(endpoint: str | None) -> RouteRule | None:
    """The route's rule; None for an endpoint the table does not list (deny)."""
    return ROUTES.get(route_key(endpoint)) if endpoint else None

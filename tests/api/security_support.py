"""Security tests: the secured app, tokens, and one request per route (the route catalogue)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydicom.uid import generate_uid

from tests.api.workitem_support import JSON_HEADERS, body, el, workitem
from tests.dicom_factory import make_dataset, multipart, to_bytes
from tests.identity_provider import AUDIENCE, LocalIdentityProvider

ROLES_FILE = Path(__file__).parent.parent / "data" / "security-roles.json"
FORBIDDEN = b"Authorization failed."
#: Roles (tests/data/security-roles.json) granting exactly one action, and all but it.
ROLE_FOR = {"read": "reader", "write": "writer", "delete": "deleter",
            "manageExtendedQueryTags": "tagManager", "export": "exporter",
            "managePartitions": "partitionManager"}
ALL_BUT = {"read": "notReader", "write": "notWriter", "delete": "notDeleter",
           "manageExtendedQueryTags": "notTagManager", "export": "notExporter",
           "managePartitions": "notPartitionManager"}


def secure_app(make_app: Callable[..., Any], idp: LocalIdentityProvider, partitioned: bool,
               **overrides: Any) -> Any:
    settings = {"ENABLE_DATA_PARTITIONS": partitioned, "SECURITY_ENABLED": True,
                "SECURITY_AUTHORITY": idp.issuer, "SECURITY_AUDIENCE": AUDIENCE,
                "SECURITY_REQUIRE_HTTPS_METADATA": False,
                "SECURITY_AUTHORIZATION_ENABLED": True, "SECURITY_ROLES_FILE": str(ROLES_FILE),
                "SECURITY_KEY_REFRESH_COOLDOWN_SECONDS": 0}
    settings.update(overrides)
    return make_app(**settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(idp: LocalIdentityProvider, suffix: str = "") -> str:
    """The WWW-Authenticate value of a 401 (reference-2.md §4.4)."""
    return (f'Bearer authorization_uri="{idp.issuer}", resource_id="{AUDIENCE}", '
            f'realm="{AUDIENCE}"{suffix}')


def stow_body(study: str | None = None) -> tuple[bytes, dict[str, str]]:
    body, content_type = multipart([to_bytes(make_dataset(study_uid=study))])
    return body, {"Content-Type": content_type}


def tag_body() -> tuple[bytes, dict[str, str]]:
    return (b'[{"path": "00101010", "vr": "AS", "level": "study"}]',
            {"Content-Type": "application/json"})


def workitem_body() -> tuple[bytes, dict[str, str]]:
    return body(workitem(generate_uid())).encode(), dict(JSON_HEADERS)


def state_body() -> tuple[bytes, dict[str, str]]:
    return body({"00081195": el("UI", generate_uid()),
                 "00741000": el("CS", "IN PROGRESS")}).encode(), dict(JSON_HEADERS)


def export_body(ids: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Export the seeded study into the export root (the app needs ENABLE_EXPORT and
    EXPORT_ROOT)."""
    return (json.dumps({"source": {"type": "identifiers", "settings": {"values": [ids["study"]]}},
                        "destination": {"type": "filesystem", "settings": {}}}).encode(),
            {"Content-Type": "application/json"})


def quota_body() -> tuple[bytes, dict[str, str]]:
    return b'{"quota": null}', {"Content-Type": "application/json"}


def patch_body() -> tuple[bytes, dict[str, str]]:
    return b'{"queryStatus": "disabled"}', {"Content-Type": "application/json"}


@dataclass(frozen=True)
class RouteCase:
    """One request to a route, and its status for a caller holding ``action``. Paths take
    ``{base}`` (partition-aware routes), ``{study}``, ``{series}``, ``{sop}`` of the seeded
    instance and ``{other}`` (a UID nothing has)."""

    endpoint: str
    method: str
    path: str
    action: str
    status: int
    body: Callable[..., tuple[bytes, dict[str, str]]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    plain_status: int | None = None  # the status when partitions are off, if another

    def expected(self, partitioned: bool) -> int:
        return self.status if partitioned or self.plain_status is None else self.plain_status

    @property
    def global_route(self) -> bool:
        return "{base}" not in self.path


INSTANCE = "{base}/studies/{study}/series/{series}/instances/{sop}"
CASES = (
    RouteCase("stow.store_instances", "POST", "{base}/studies", "write", 200,
              lambda ids: stow_body()),
    RouteCase("stow.store_instances_in_study", "POST", "{base}/studies/{study}", "write", 200,
              lambda ids: stow_body(ids["study"])),
    RouteCase("wado.retrieve_study", "GET", "{base}/studies/{study}", "read", 200),
    RouteCase("wado.retrieve_series", "GET", "{base}/studies/{study}/series/{series}", "read",
              200),
    RouteCase("wado.retrieve_instance", "GET", INSTANCE, "read", 200),
    RouteCase("wado.retrieve_frames", "GET", INSTANCE + "/frames/1", "read", 200),
    RouteCase("wado.retrieve_study_metadata", "GET", "{base}/studies/{study}/metadata", "read",
              200),
    RouteCase("wado.retrieve_series_metadata", "GET",
              "{base}/studies/{study}/series/{series}/metadata", "read", 200),
    RouteCase("wado.retrieve_instance_metadata", "GET", INSTANCE + "/metadata", "read", 200),
    RouteCase("wado.retrieve_rendered_instance", "GET", INSTANCE + "/rendered", "read", 200),
    RouteCase("wado.retrieve_rendered_frame", "GET", INSTANCE + "/frames/1/rendered", "read",
              200),
    RouteCase("wado.retrieve_bulkdata", "GET", INSTANCE + "/bulkdata/7FE00010", "read", 200),
    RouteCase("qido.search_for_studies", "GET", "{base}/studies", "read", 200),
    RouteCase("qido.search_for_series", "GET", "{base}/series", "read", 200),
    RouteCase("qido.search_for_instances", "GET", "{base}/instances", "read", 200),
    RouteCase("qido.search_for_series_in_study", "GET", "{base}/studies/{study}/series", "read",
              200),
    RouteCase("qido.search_for_instances_in_study", "GET", "{base}/studies/{study}/instances",
              "read", 200),
    RouteCase("qido.search_for_instances_in_series", "GET",
              "{base}/studies/{study}/series/{series}/instances", "read", 200),
    # across partitions (#20): read in scope '/'; 400 feature disabled when partitions are off
    RouteCase("qido_all_partitions.search_for_studies", "GET", "/partitions/*/studies", "read",
              200, plain_status=400),
    RouteCase("qido_all_partitions.search_for_series", "GET", "/v2/partitions/*/series", "read",
              200, plain_status=400),
    RouteCase("qido_all_partitions.search_for_instances", "GET", "/v1/partitions/*/instances",
              "read", 200, plain_status=400),
    RouteCase("qido_all_partitions.search_for_series_in_study", "GET",
              "/partitions/*/studies/{study}/series", "read", 200, plain_status=400),
    RouteCase("qido_all_partitions.search_for_instances_in_study", "GET",
              "/partitions/*/studies/{study}/instances", "read", 200, plain_status=400),
    RouteCase("qido_all_partitions.search_for_instances_in_series", "GET",
              "/partitions/*/studies/{study}/series/{series}/instances", "read", 200,
              plain_status=400),
    RouteCase("bulk_update.bulk_update_studies", "POST", "{base}/studies/$bulkUpdate", "write",
              400, lambda ids: (b'{"studyInstanceUids": [], "changeDataset": {}}',
                                {"Content-Type": "application/json"})),
    RouteCase("delete.delete_study", "DELETE", "{base}/studies/{other}", "delete", 404),
    RouteCase("delete.delete_series", "DELETE", "{base}/studies/{other}/series/{other}",
              "delete", 404),
    RouteCase("delete.delete_instance", "DELETE",
              "{base}/studies/{other}/series/{other}/instances/{other}", "delete", 404),
    RouteCase("workitems.create_workitem", "POST", "{base}/workitems", "write", 201,
              lambda ids: workitem_body()),
    RouteCase("workitems.search_workitems", "GET", "{base}/workitems", "read", 200,
              headers=JSON_HEADERS),
    RouteCase("workitems.retrieve_workitem", "GET", "{base}/workitems/{other}", "read", 404,
              headers=JSON_HEADERS),
    RouteCase("workitems.update_workitem", "POST", "{base}/workitems/{other}", "write", 400,
              lambda ids: workitem_body()),
    RouteCase("workitems.change_workitem_state", "PUT", "{base}/workitems/{other}/state",
              "write", 404, lambda ids: state_body()),
    RouteCase("workitems.request_cancellation", "POST", "{base}/workitems/{other}/cancelrequest",
              "write", 404, lambda ids: (b"[{}]", dict(JSON_HEADERS))),
    RouteCase("export.export", "POST", "{base}/export", "export", 202, export_body),
    RouteCase("change_feed.get_change_feed", "GET", "{base}/changefeed", "read", 200),
    RouteCase("change_feed.get_change_feed_latest", "GET", "{base}/changefeed/latest", "read",
              200),
    RouteCase("change_feed.get_change_feed", "GET", "/changefeed", "read", 200),
    RouteCase("partitions.list_partitions", "GET", "/partitions", "read", 200, plain_status=400),
    RouteCase("partitions.get_partition", "GET", "/partitions/Microsoft.Default", "read", 200,
              plain_status=400),
    RouteCase("partitions.update_partition", "PATCH", "/partitions/Microsoft.Default",
              "managePartitions", 200, lambda ids: quota_body(), plain_status=400),
    # A partition that does not exist: the check comes first, nothing is deleted.
    RouteCase("partitions.delete_partition", "DELETE", "/partitions/Nowhere", "managePartitions",
              400),
    RouteCase("extended_query_tags.list_extended_query_tags", "GET", "/extendedquerytags",
              "read", 200),
    RouteCase("extended_query_tags.get_extended_query_tag", "GET", "/extendedquerytags/00100040",
              "read", 404),
    RouteCase("extended_query_tags.list_extended_query_tag_errors", "GET",
              "/extendedquerytags/00100040/errors", "read", 404),
    RouteCase("extended_query_tags.add_extended_query_tags", "POST", "/v1/extendedquerytags",
              "manageExtendedQueryTags", 202, lambda ids: tag_body()),
    RouteCase("extended_query_tags.delete_extended_query_tag", "DELETE",
              "/extendedquerytags/00100040", "manageExtendedQueryTags", 404),
    RouteCase("extended_query_tags.update_extended_query_tag", "PATCH",
              "/v2/extendedquerytags/00100040", "manageExtendedQueryTags", 404,
              lambda ids: patch_body()),
    RouteCase("operations.get_operation", "GET",
              "/operations/00000000000000000000000000000000", "read", 404),
)
#: Routes anyone may call.
ANONYMOUS_CASES = (
    RouteCase("health.health_check", "GET", "/health/check", "", 200),
    RouteCase("openapi.document", "GET", "/v2/openapi.json", "", 200),
    RouteCase("swagger_ui.show", "GET", "/docs/", "", 200),
    # Its own token, not an OIDC one; with security on and none set it is not served.
    RouteCase("metrics.scrape", "GET", "/metrics", "", 404),
)


def send(client: Any, case: RouteCase, ids: dict[str, str], headers: dict[str, str]) -> Any:
    body, body_headers = case.body(ids) if case.body else (None, {})
    return client.open(case.path.format(**ids), method=case.method, data=body,
                       headers={**case.headers, **body_headers, **headers})

"""Routing glue: registration under the base prefixes, and the data-partition hook
(reference.md §1, §2).

Each partition-aware blueprint is registered once per base prefix, plain and with
``/partitions/<partition_name>``. ``scope(bp)`` pops the partition name into ``g`` and enforces
the feature flag before the view runs, so views never take the name as a parameter.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import Blueprint, Flask, Request, current_app, g, request
from werkzeug.exceptions import HTTPException

from .api.edge import BASE_PREFIXES, get_db, version_base_url
from .api.errors import add_not_found_diagnosis
from .errors import (DataPartitionsFeatureDisabledError, DataPartitionsMissingPartitionError,
                     DataPartitionsNotFoundError, DicomServerError, InvalidPartitionNameError,
                     PartitionBeingDeletedError)
from .models import DEFAULT_PARTITION, Partition
from .security import authorize_global, authorize_partition, needs_scope
from .services import partitions as partition_service

PARTITION_SEGMENT = "/partitions/<partition_name>"


def partitions_enabled() -> bool:
    return bool(current_app.config["ENABLE_DATA_PARTITIONS"])


def current_partition() -> Partition:
    """The partition the request addresses (the default one when the feature is off); for a
    ``by_partition_name`` view whose reads have not found it yet, looked up now (400 if it does
    not exist)."""
    partition = g.get("partition", DEFAULT_PARTITION)
    if g.get("partition_by_name") and partition is not None:
        found = partition_service.find_partition(get_db(), partition.partition_name)
        if found is None:
            raise DataPartitionsNotFoundError()
        partition_found(found)
        partition = found
    return partition


def requested_partition_name() -> str:
    """The name of the partition the request addresses, as stored once it was looked up (the
    default partition's when the feature is off); a ``by_partition_name`` view passes it to
    its reads, which find the partition in their own statement."""
    return g._get_current_object().get("partition", DEFAULT_PARTITION).partition_name


def searched_partition() -> int | str:
    """The key of the partition the request addresses, or, for a ``by_partition_name`` view
    whose reads have not found it yet, its requested name (searched by name in the same
    statement)."""
    partition = g.get("partition", DEFAULT_PARTITION)
    if g.get("partition_by_name"):
        return partition.partition_name
    return partition.partition_key


def partition_found(partition: Partition) -> None:
    """What a ``by_partition_name`` view's reads found: the partition as stored."""
    state = g._get_current_object()  # one context lookup for both values
    state.partition = partition
    state.partition_by_name = False


def by_partition_name(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a read view whose queries find the partition by name in the same statement (one
    round trip instead of a lookup first); put it below the route decorator. When no scope
    check needs the stored name, the hook then only validates the name. Whatever the view
    raises, a partition that does not exist is the error, as if the hook had looked it up."""
    return _by_name(view, current_partition)


def stored_by_partition_name(view: Callable[..., Any]) -> Callable[..., Any]:
    """``by_partition_name`` for a STOW view (``scope(create=True)``), whose store finds the
    partition by name in its first statement (``store_partition``). Whatever the view raises,
    a partition being deleted is the error, as if the hook had looked it up."""
    return _by_name(view, store_partition)


def _by_name(view: Callable[..., Any], look_up: Callable[[], Partition]) -> Callable[..., Any]:
    @functools.wraps(view)
    def by_name(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception:
            look_up()
            raise

    by_name.partition_by_name = True  # type: ignore[attr-defined]
    return by_name


def requested_store_partition() -> tuple[Partition, bool]:
    """For a STOW view: the partition as the hook left it, and whether only its requested
    name is known (``stored_by_partition_name``: the store finds it by that name)."""
    state = g._get_current_object()
    return state.get("partition", DEFAULT_PARTITION), bool(state.get("partition_by_name"))


def store_partition() -> Partition:
    """For a STOW view: the partition the request stores into (looked up now if the store has
    not found it: as stored, or not existing yet, without a key; PartitionBeingDeletedError
    when it is being deleted)."""
    partition = g.get("partition", DEFAULT_PARTITION)
    if g.get("partition_by_name"):
        partition = partition_service.partition_for_store(get_db(), partition.partition_name)
        partition_found(partition)
    return partition


def resource_base_url(partition_name: str | None = None) -> str:
    """Absolute base for resource URLs: scheme://host[/vN][/partitions/{name}]."""
    url = version_base_url()
    if partitions_enabled():
        name = partition_name or current_partition().partition_name
        url += f"/partitions/{name}"
    return url


def init_app(app: Flask) -> None:
    """Let the 404 handler ask ``diagnose_unmatched`` about URLs no route matches."""
    add_not_found_diagnosis(app, diagnose_unmatched)


def register_api(app: Flask, bp: Blueprint, partition_aware: bool = True) -> None:
    """Register a blueprint under every base prefix, and partitioned when it is partition-aware."""
    for prefix, name_prefix, _ in BASE_PREFIXES:
        app.register_blueprint(bp, name=f"{name_prefix}{bp.name}", url_prefix=prefix or None)
        if partition_aware:
            app.register_blueprint(bp, name=f"{name_prefix}partitioned_{bp.name}",
                                   url_prefix=f"{prefix}{PARTITION_SEGMENT}")


_MISSING = object()


def scope(bp: Blueprint, create: bool = False, optional: bool = False) -> Blueprint:
    """Make ``bp`` partition-aware. With ``create`` (STOW), an unknown partition is not an error:
    ``g.partition`` then has no key and the store creates it with its first instance. With
    ``optional`` (change feed), the plain routes stay global when the feature is on:
    ``g.partition`` is then None."""

    @bp.url_value_preprocessor
    def pull_partition_name(endpoint: str | None, values: dict[str, Any] | None) -> None:
        name = values.pop("partition_name", _MISSING) if values else _MISSING
        g._get_current_object().partition_name = name

    @bp.before_request
    def resolve_partition() -> None:
        # Each use of a context proxy (g, current_app, request) costs a lookup: once each here.
        state, app = g._get_current_object(), current_app._get_current_object()
        state.partition_by_name = False  # only a by_partition_name view's branch below sets it
        name = state.get("partition_name", _MISSING)
        enabled = partitions_enabled_for(app)
        if name is _MISSING:
            if optional:
                authorize_global()  # the global change feed needs scope '/'
                state.partition = None
                return
            if enabled:
                raise DataPartitionsMissingPartitionError()
            authorize_partition(DEFAULT_PARTITION.partition_name, lookup=False)
            state.partition = DEFAULT_PARTITION
            return
        if not enabled:
            raise DataPartitionsFeatureDisabledError()
        view = app.view_functions.get(request._get_current_object().endpoint or "")
        if getattr(view, "partition_by_name", False) and not needs_scope():
            state.partition = Partition(None, partition_service.validate_partition_name(name))
            state.partition_by_name = True
            return
        # Scopes are checked against the stored name (or, for a partition STOW creates, the
        # requested one), so no spelling or encoding of a name reaches another partition.
        partition = partition_service.find_partition(get_db(), name)
        if partition is None and create:
            authorize_partition(name, lookup=False)
            partition = Partition(None, name)
        elif partition is None:
            authorize_partition(name, lookup=True)  # 403 before "does not exist"
            raise DataPartitionsNotFoundError()
        else:
            authorize_partition(partition.partition_name, lookup=not create)
            if create and partition.deleting:  # issue #20: nothing new goes into it
                raise PartitionBeingDeletedError(partition.partition_name)
        state.partition = partition

    return bp


def diagnose_unmatched(app: Flask, req: Request) -> DicomServerError | None:
    """For a 404: was it a partition route whose name cannot be routed (``/``, ``%2F``, empty)?

    Werkzeug decodes ``%2F`` before routing, so such names never reach the hook. If replacing
    the name-part with a valid name makes the URL route, answer as the hook would have.
    """
    parts = req.path.split("/")
    adapter = app.url_map.bind("localhost")
    for index, part in enumerate(parts):
        if part != "partitions":
            continue
        for end in range(index + 1, len(parts) + 1):
            candidate = "/".join(parts[:index + 1] + ["x"] + parts[end:])
            try:
                rule, _ = adapter.match(candidate, method=req.method, return_rule=True)
            except HTTPException:
                continue
            except Exception:  # RequestRedirect and the like: not a partition route
                continue
            if rule.rule.endswith(PARTITION_SEGMENT):  # /partitions/{name} itself (#20):
                continue  # "/partitions/x/unknown" stays an unknown route (404)
            if not partitions_enabled_for(app):
                return DataPartitionsFeatureDisabledError()
            return InvalidPartitionNameError()
    return None


def partitions_enabled_for(app: Flask) -> bool:
    return bool(app.config["ENABLE_DATA_PARTITIONS"])

"""Prometheus metrics (issue #22): what the server counts, in one place, without Flask.

The metric objects are made on first use (``setup()``), not at import: prometheus_client picks
its single- or multi-process mode when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``.
With several server processes (``DICOM_PROCESSES`` > 1) the pre-fork supervisor (wsgi.py)
sets that variable to a directory of its own run before the app is created
(``prepare_multiprocess_dir``); every process then writes its values to files there, and a
scrape of any process adds them up (``render``). Without it, values are per process.

Recording functions are no-ops until ``setup()`` ran (``DICOM_METRICS_ENABLED=false``).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Callable, Iterable

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Latency buckets (seconds): from a cached QIDO to a multi-GB STOW.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
#: The route label of a request that matched no route (404, 405 by path).
UNMATCHED_ROUTE = "<unmatched>"


class _Metrics:
    """The metric objects of this process."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "dicomweb_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"])
        self.latency = Histogram(
            "dicomweb_http_request_duration_seconds",
            "Time from receiving a request to its response being ready (a streamed body "
            "is sent after), by route template and method.",
            ["route", "method"], buckets=LATENCY_BUCKETS)
        self.instances: dict[str, Any] = {}
        self.bytes: dict[str, Any] = {}
        for action in ("stored", "retrieved", "deleted"):
            self.instances[action] = Counter(
                f"dicomweb_instances_{action}", f"Instances {action}, by partition.",
                ["partition"])
            self.bytes[action] = Counter(
                f"dicomweb_{action}_bytes", f"Bytes of instances {action}, by partition"
                + (" (files removed from the blob store)." if action == "deleted" else "."),
                ["partition"])
        self.store_failures = Counter(
            "dicomweb_store_failures", "Instances a STOW did not store, by partition and "
            "failure reason (45070 already exists, 43264 invalid, 272 processing failure).",
            ["partition", "reason"])
        self.operation_runs = Counter(
            "dicomweb_operation_runs", "Runs of long-running operations by this server's "
            "workers, by operation type and outcome.", ["type", "outcome"])
        self.backend_errors = Counter(
            "dicomweb_backend_errors", "Requests that failed because the database (or its "
            "connection pool) or the blob store failed.", ["backend"])
        self.db_connections = Gauge(
            "dicomweb_database_connections_in_use",
            "Database connections taken from the pool and not yet given back.",
            multiprocess_mode="livesum")
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *label_values: str) -> Any:
        """``metric.labels(*label_values)``, kept: the same child every time (labels() takes a
        lock and checks its arguments on each call; no child is ever removed here)."""
        key = (id(metric), label_values)
        found = self._children.get(key)
        if found is None:
            found = self._children.setdefault(key, metric.labels(*label_values))
        return found


_metrics: _Metrics | None = None
#: The process that made the multiprocess directory (the supervisor).
_dir_owner: int | None = None


def setup() -> None:
    """Make the metric objects of this process (once)."""
    global _metrics
    if _metrics is not None:
        return
    from prometheus_client import values

    if bool(os.environ.get(MULTIPROC_ENV)) != bool(getattr(values.ValueClass,
                                                           "_multiprocess", False)):
        logger.warning("prometheus_client was imported before %s was set: metrics are "
                       "per process", MULTIPROC_ENV)
    _metrics = _Metrics()


def render(collectors: Iterable[Any] = ()) -> tuple[bytes, str]:
    """The exposition text of every process (multiprocess mode) or of this one, plus
    ``collectors`` (read at scrape time); (body, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    from prometheus_client.registry import CollectorRegistry

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Everything(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Everything:
    """The default registry's metrics (process, GC and ours) inside another registry."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


def gauge_collector(name: str, documentation: str, labels: list[str],
                    read: Callable[[], Iterable[tuple[tuple[str, ...], float]]]) -> Any:
    """A collector that reads ``(label values, value)`` pairs when scraped (e.g. from the
    database, which every process shares, so any process can answer)."""
    from prometheus_client.core import GaugeMetricFamily

    class _Collector:
        def collect(self) -> Iterable[Any]:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            for label_values, value in read():
                family.add_metric(list(label_values), value)
            yield family

    return _Collector()


# --- Recording ---------------------------------------------------------------------------

def request_done(route: str, method: str, status: int, seconds: float) -> None:
    if _metrics is None:
        return
    _metrics.child(_metrics.requests, route, method, str(status)).inc()
    _metrics.child(_metrics.latency, route, method).observe(seconds)


def instances(action: str, partition: str, count: int, size: int) -> None:
    """``count`` instances of ``size`` bytes in all were stored, retrieved or deleted."""
    if _metrics is None or not count:
        return
    _metrics.child(_metrics.instances[action], partition).inc(count)
    _metrics.child(_metrics.bytes[action], partition).inc(size)


def store_failed(partition: str, reason: int) -> None:
    if _metrics is not None:
        _metrics.store_failures.labels(partition, str(reason)).inc()


def operation_run(operation_type: str, outcome: str) -> None:
    if _metrics is not None:
        _metrics.operation_runs.labels(operation_type, outcome).inc()


def backend_error(backend: str) -> None:
    """``backend``: 'database' or 'blob_store'."""
    if _metrics is not None:
        _metrics.backend_errors.labels(backend).inc()


def connection_taken(delta: int) -> None:
    if _metrics is not None:
        _metrics.db_connections.inc(delta)


# --- Several processes (the pre-fork supervisor) ----------------------------------------

def prepare_multiprocess_dir() -> str:
    """Point prometheus_client at a new, empty directory for this run (before it is
    imported); return it. The supervisor removes it with ``remove_multiprocess_dir``."""
    global _dir_owner
    path = tempfile.mkdtemp(prefix="dicomweb-metrics-")
    os.environ[MULTIPROC_ENV] = path
    _dir_owner = os.getpid()
    return path


def process_exited(pid: int) -> None:
    """Drop the live gauges of a server process that exited."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_multiprocess_dir(path: str) -> None:
    """Remove the run's directory; only in the process that made it (a forked server process
    leaving through the same code must not)."""
    if os.getpid() == _dir_owner:
        shutil.rmtree(path, ignore_errors=True)

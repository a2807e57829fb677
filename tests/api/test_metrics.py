"""``GET /metrics``: Prometheus text format, parsed with prometheus_client's parser (#22)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.worker import run_pending_once
from tests.api.helpers import http_request, store
from tests.api.test_processes import _start, _stop
from tests.dicom_factory import make_dataset, to_bytes

DEFAULT_PARTITION = "Microsoft.Default"


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of an exposition text."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return parse(response.get_data(as_text=True))


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_requests_and_instances_move_after_stow_wado_delete(client, base,
                                                                   partition_mode):
    partition = "SiteA" if partition_mode == "partitioned" else DEFAULT_PARTITION
    ds = make_dataset()
    size = len(to_bytes(ds))
    study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    route = f"{base.replace('SiteA', '<partition_name>')}/studies"
    before = scrape(client)

    assert store(client, base, ds).status_code == 200
    instance = f"{base}/studies/{study}/series/{series}/instances/{sop}"
    assert client.get(instance, headers={"Accept": "application/dicom"}).status_code == 200
    assert client.delete(instance).status_code == 204
    assert client.get("/no/such/route").status_code == 404
    assert client.get(f"{base}/studies?PatientID=%3c").status_code == 400  # query guard
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("dicomweb_http_requests_total", route=route, method="POST", status="200") == 1
    assert moved("dicomweb_http_requests_total", route="<unmatched>", method="GET",
                 status="404") == 1
    assert moved("dicomweb_http_requests_total", route=route, method="GET", status="400") == 1
    assert moved("dicomweb_http_request_duration_seconds_count", route=route,
                 method="POST") == 1
    assert moved("dicomweb_http_request_duration_seconds_bucket", route=route, method="POST",
                 le="+Inf") == 1
    assert moved("dicomweb_http_request_duration_seconds_sum", route=route, method="POST") > 0
    for action in ("stored", "retrieved", "deleted"):
        assert moved(f"dicomweb_instances_{action}_total", partition=partition) == 1, action
        assert moved(f"dicomweb_{action}_bytes_total", partition=partition) == size, action
    assert value(after, "dicomweb_database_connections_in_use") >= 0


def test_metrics_store_failures_by_reason(client, base, partition_mode):
    partition = "SiteA" if partition_mode == "partitioned" else DEFAULT_PARTITION
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    before = scrape(client)
    assert store(client, base, ds).status_code == 409
    after = scrape(client)
    name, labels = "dicomweb_store_failures_total", {"partition": partition, "reason": "45070"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_metrics_operations_by_type_and_status(make_app):
    app = make_app()
    client = app.test_client()
    response = client.post("/extendedquerytags", json=[{"path": "PatientAge", "level": "Study"}])
    assert response.status_code == 202
    assert value(scrape(client), "dicomweb_operations", type="reindex", status="notStarted") == 1
    before = scrape(client)
    run_pending_once(app)
    after = scrape(client)
    assert value(after, "dicomweb_operations", type="reindex", status="succeeded") == 1
    assert value(after, "dicomweb_operations", type="reindex", status="notStarted") == 0
    name, labels = "dicomweb_operation_runs_total", {"type": "reindex", "outcome": "completed"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_metrics_blob_store_error_counted(client, base, app):
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    for path in Path(app.config["BLOB_STORE_PATH"]).rglob("*"):
        if path.is_file() and len(path.name) == 64:
            path.unlink()
    before = scrape(client)
    url = (f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}")
    assert client.get(url, headers={"Accept": "application/dicom"}).status_code >= 500
    after = scrape(client)
    name = "dicomweb_backend_errors_total"
    assert (value(after, name, backend="blob_store")
            - value(before, name, backend="blob_store")) == 1


def test_metrics_disabled_is_404(make_app):
    client = make_app(METRICS_ENABLED=False).test_client()
    assert client.get("/metrics").status_code == 404


def test_metrics_token_required_when_set(make_app):
    client = make_app(METRICS_TOKEN="s3cret").test_client()
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_metrics_with_security_on_needs_a_token(make_app):
    """No OIDC token for a scrape: its own token, or no /metrics at all."""
    security = {"SECURITY_ENABLED": True, "SECURITY_AUTHORITY": "http://127.0.0.1:9/idp",
                "SECURITY_AUDIENCE": "dicom", "SECURITY_REQUIRE_HTTPS_METADATA": False}
    assert make_app(**security).test_client().get("/metrics").status_code == 404
    client = make_app(**security, METRICS_TOKEN="t").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t"}).status_code == 200
    assert client.get("/studies").status_code == 401  # the rest still needs a real token


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_metrics_two_processes_add_up(tmp_path, monkeypatch):
    """Requests served by either of two processes all show in every scrape; the run's metrics
    directory is removed when the server stops."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    process, port = _start(tmp_path)
    try:
        body = to_bytes(make_dataset())
        headers = {"Content-Type": "application/dicom"}
        assert http_request(port, "POST", "/studies", body, headers)[0] == 200
        # A new connection each; which process accepts one is the kernel's choice, so keep
        # asking (bounded) until both processes have served and counted some.
        [metrics_dir] = tmp_path.glob("dicomweb-metrics-*")
        checks = 0
        while checks < 20 or (len(list(metrics_dir.glob("counter_*.db"))) < 2 and checks < 2000):
            assert http_request(port, "GET", "/health/check")[0] == 200
            checks += 1
        for _ in range(4):
            status, text = http_request(port, "GET", "/metrics")
            assert status == 200
            samples = parse(text.decode())
            assert value(samples, "dicomweb_http_requests_total", route="/health/check",
                         method="GET", status="200") >= checks  # and _start's own
            assert value(samples, "dicomweb_instances_stored_total",
                         partition=DEFAULT_PARTITION) == 1
            assert value(samples, "dicomweb_stored_bytes_total",
                         partition=DEFAULT_PARTITION) == len(body)
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2  # both processes counted
    finally:
        _stop(process)
    assert not list(tmp_path.glob("dicomweb-metrics-*"))


"""The object store answering errors (issue #17): 500 InternalError and 503 SlowDown (throttling)
from a fault injector in front of the real SeaweedFS server (tests/s3_faults.py), through the
HTTP API on PostgreSQL. botocore retries each request a bounded number of times (4 attempts,
its backoff slept a hundred times shorter here), then the API answers 503 with a clear text;
nothing is indexed that the store did not take, a failed DELETE of a file leaves it to the
sweep, and the same requests succeed once the store is healthy again."""
from __future__ import annotations

import pytest

from app.services.blob_sweep import SweepSettings, sweep_blobs
from tests.api.helpers import store
from tests.api.stow_support import count
from tests.api.wado_helpers import instance_url
from tests.dicom_factory import make_dataset, to_bytes, uid
from tests.s3_faults import FaultProxy

pytestmark = [pytest.mark.parametrize("backend", ["s3"], indirect=True),  # PostgreSQL + S3
              pytest.mark.parametrize("partition_mode", ["plain"], indirect=True)]

UNAVAILABLE = "The object store is unavailable."
THROTTLED = "The object store is throttling requests (SlowDown); try again later."
FAULTS = [pytest.param(503, "SlowDown", THROTTLED, id="503-SlowDown"),
          pytest.param(500, "InternalError", UNAVAILABLE, id="500-InternalError")]
ATTEMPTS = 4  # app/blobs/s3.py: retries max_attempts 3 (botocore: 3 retries, 4 attempts)
WHOLE = {"Accept": "application/dicom; transfer-syntax=*"}
SERIES = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}


@pytest.fixture(autouse=True)
def backoffs(monkeypatch) -> list[float]:
    """The delays botocore's retries compute (its standard mode: jittered, up to 1, 2, 4 s when
    throttled), recorded; each is slept for a hundredth of itself: the same bounded retries,
    without ~4 s of waiting per failed request."""
    from botocore.retries.standard import ExponentialBackoff

    computed: list[float] = []
    real = ExponentialBackoff.delay_amount

    def shortened(self, context) -> float:
        delay = real(self, context)
        computed.append(delay)
        return delay / 100

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", shortened)
    return computed


@pytest.fixture
def proxy(s3_server):
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def app(make_app, proxy, partition_mode):
    """The app with its bucket reached through the fault injector (no read cache: every read
    is a request to the bucket)."""
    return make_app(S3_ENDPOINT_URL=proxy.endpoint_url, S3_CACHE_MAX_MB=0,
                    ENABLE_DATA_PARTITIONS=partition_mode == "partitioned")


def _objects(s3_server, app) -> list[str]:
    """The blob objects in the bucket, listed on the real server (not through the proxy)."""
    blobs = app.extensions["dicom_blobs"]
    listing = s3_server.client().list_objects_v2(Bucket=blobs.bucket,
                                                 Prefix=f"{blobs.prefix}blobs/")
    return [entry["Key"] for entry in listing.get("Contents", [])]


@pytest.mark.parametrize("status, code, text", FAULTS)
def test_stow_while_the_store_fails_answers_503_and_stores_nothing(app, base, proxy, backoffs,
                                                                   status, code, text):
    client = app.test_client()
    single, batch = make_dataset(), [make_dataset() for _ in range(12)]
    proxy.fail(status, code, methods={"PUT"})

    response = store(client, base, single)
    assert response.status_code == 503 and response.get_data(as_text=True) == text
    assert response.mimetype == "text/plain"
    assert proxy.injected["PUT"] == ATTEMPTS  # retried, bounded
    assert len(backoffs) == ATTEMPTS - 1  # after each failed attempt but the last
    if status == 503:
        assert response.headers["Retry-After"] == "5"

    proxy.injected.clear()
    response = store(client, base, *batch)
    assert response.status_code == 503 and response.get_data(as_text=True) == text
    # The first refused part stops the batch: the parts not yet sent are not sent.
    assert proxy.injected["PUT"] < ATTEMPTS * len(batch)
    assert count(app, "instances") == 0 and count(app, "blobs") == 0

    proxy.heal()
    assert store(client, base, single).status_code == 200
    assert store(client, base, *batch).status_code == 200
    for ds in (single, *batch):
        response = client.get(instance_url(base, ds), headers=WHOLE)
        assert response.status_code == 200 and response.data == to_bytes(ds)


@pytest.mark.parametrize("status, code, text", FAULTS)
def test_wado_while_gets_fail_answers_503_before_the_body(app, base, proxy, status, code,
                                                          text):
    client = app.test_client()
    study, series = uid(), uid()
    first, second = (make_dataset(study_uid=study, series_uid=series, rows=64, columns=64)
                     for _ in range(2))
    assert store(client, base, first, second).status_code == 200
    proxy.fail(status, code, methods={"GET", "HEAD"})

    for url, headers in ((instance_url(base, first), WHOLE),
                         (f"{base}/studies/{study}/series/{series}", SERIES),
                         (f"{base}/studies/{study}", SERIES),
                         (f"{instance_url(base, first)}/frames/1",
                          {"Accept": "application/octet-stream"})):
        response = client.get(url, headers=headers)
        assert response.status_code == 503, url
        assert response.get_data(as_text=True) == text
    assert proxy.injected["GET"] >= ATTEMPTS
    # Metadata comes from the index: the store's trouble does not touch it.
    assert client.get(f"{base}/studies/{study}/metadata").status_code == 200

    proxy.heal()
    response = client.get(instance_url(base, second), headers=WHOLE)
    assert response.status_code == 200 and response.data == to_bytes(second)
    response = client.get(f"{instance_url(base, first)}/frames/1",
                          headers={"Accept": "application/octet-stream"})
    assert response.status_code == 200 and response.data == first.PixelData


def test_delete_while_the_store_fails_is_durable_and_the_sweep_removes_the_file(
        app, base, proxy, s3_server):
    """A DELETE commits in the index whatever the store answers; a file it could not remove
    stays released and the next blob sweep removes it."""
    client = app.test_client()
    kept, deleted = make_dataset(), make_dataset()
    assert store(client, base, kept, deleted).status_code == 200
    assert len(_objects(s3_server, app)) == 2
    proxy.fail(500, "InternalError")  # every request

    assert client.delete(instance_url(base, deleted)).status_code == 204
    assert proxy.injected
    proxy.heal()
    assert client.get(instance_url(base, deleted), headers=WHOLE).status_code == 404
    assert len(_objects(s3_server, app)) == 2  # not removed yet
    report = sweep_blobs(app.extensions["dicom_db"], app.extensions["dicom_blobs"],
                         SweepSettings())
    assert report.released == 1
    assert len(_objects(s3_server, app)) == 1 and count(app, "blobs") == 1
    response = client.get(instance_url(base, kept), headers=WHOLE)
    assert response.status_code == 200 and response.data == to_bytes(kept)


def test_sweep_command_while_the_store_fails_says_so_in_one_line(app, base, proxy, s3_server,
                                                                  caplog):
    """``flask blobs sweep`` (and the periodic sweep's log) with the store failing: one line
    naming what failed, no traceback; the released file stays for the next sweep, which
    removes it once the store is back."""
    client = app.test_client()
    kept, deleted = make_dataset(), make_dataset()
    assert store(client, base, kept, deleted).status_code == 200
    proxy.fail(500, "InternalError")
    assert client.delete(instance_url(base, deleted)).status_code == 204
    runner = app.test_cli_runner()

    result = runner.invoke(args=["blobs", "sweep"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {UNAVAILABLE} ")
    assert "(500)" in result.output and "Traceback" not in result.output
    assert not [record for record in caplog.records if record.exc_info]
    assert "Could not remove released files; the blob sweep will: " in caplog.text
    assert len(_objects(s3_server, app)) == 2  # nothing removed, nothing lost

    proxy.heal()
    result = runner.invoke(args=["blobs", "sweep"])
    assert result.exit_code == 0, result.output
    assert len(_objects(s3_server, app)) == 1 and count(app, "blobs") == 1
    response = client.get(instance_url(base, kept), headers=WHOLE)
    assert response.status_code == 200 and response.data == to_bytes(kept)

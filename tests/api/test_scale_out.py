"""Several nodes (issue #17): two independent server processes (``python wsgi.py`` each) on one
PostgreSQL database and one blob store (a directory, or a bucket of a real SeaweedFS server)
behave as one server. Driven alternately: what one
node stores the other finds, retrieves and deletes at once; an extended query tag added
through one validates the other's next store; a re-index runs once and survives the death of
the node running it; identical bytes stored into two partitions through both nodes at once,
and a delete racing a store of the same bytes, keep one file that every remaining instance
reads back; the change feed has one order, and a reader paging it while both nodes write
misses nothing; a change through one node that another node's request read just before (a
partition's quota, an extended query tag) is never undone by that request, nor a 500."""
from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg2
import pytest

from tests.api.helpers import http_request
from tests.api.test_faults import Server
from tests.dicom_factory import make_dataset, multipart, to_bytes, uid

JSON = {"Accept": "application/dicom+json"}
ANY_SYNTAX = {"Accept": "application/dicom; transfer-syntax=*"}
#: Instances the re-index runs over, one per batch: long enough to kill its node mid-way.
REINDEX_INSTANCES = 400


@pytest.fixture
def backend() -> str:
    """Two nodes share one database server: PostgreSQL only (skipped without it)."""
    return "postgresql"


@dataclass
class Store:
    """Where the nodes keep blobs: ``copies(data)`` are the stored copies of these bytes (one
    file or object per blob key, however many instances share it)."""

    env: dict[str, str]
    copies: Callable[[bytes], list[bytes]]


@pytest.fixture(params=["filesystem", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "filesystem":
        def files(data: bytes) -> list[bytes]:
            key = hashlib.sha256(data).hexdigest()
            return [p.read_bytes() for p in (tmp_path / "data" / "blobs").rglob(key)
                    if ".quarantine" not in p.parts]
        return Store({}, files)
    server = request.getfixturevalue("s3_server")
    prefix = request.getfixturevalue("s3_prefix")
    client = server.client()

    def objects(data: bytes) -> list[bytes]:
        name = f"{prefix}blobs/{hashlib.sha256(data).hexdigest()}"
        found = client.list_objects_v2(Bucket=server.shared_bucket, Prefix=name)
        return [client.get_object(Bucket=server.shared_bucket, Key=o["Key"])["Body"].read()
                for o in found.get("Contents", [])]
    return Store({f"DICOM_{k}": v for k, v in server.settings(server.shared_bucket,
                                                               prefix).items()}, objects)


def _nodes(tmp_path: Path, database_url: str, store_env: dict[str, str]):
    """Nodes A and B: one database, one blob store, partitions on, background workers with a
    short lease."""
    env = {"DICOM_ENABLE_DATA_PARTITIONS": "true", "DICOM_ENABLE_BACKGROUND_WORKER": "true",
           "DICOM_WORKER_POLL_SECONDS": "0.2", "DICOM_OPERATION_LEASE_SECONDS": "2",
           "DICOM_REINDEX_BATCH_SIZE": "1", **store_env}
    pair = [Server(tmp_path / "data", database_url, env) for _ in range(2)]
    try:
        pair[0].start()  # first: it migrates and writes the store identity
        pair[1].start()
        yield pair
    finally:
        for node in pair:
            node.stop()


@pytest.fixture
def nodes(tmp_path: Path, database_url: str, blob_store: Store):
    """Two nodes on the test's blob store (a directory, or a bucket)."""
    yield from _nodes(tmp_path, database_url, blob_store.env)


@pytest.fixture
def nodes_on_files(tmp_path: Path, database_url: str):
    """Two nodes on a directory (tests whose subject is not the blob store)."""
    yield from _nodes(tmp_path, database_url, {})


def _sql(database_url: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def _store(node: Server, partition: str, *datasets: Any, prefix: str = "/v2"
           ) -> tuple[int, Any]:
    body, content_type = multipart([to_bytes(ds) if not isinstance(ds, bytes) else ds
                                    for ds in datasets])
    status, data = http_request(node.port, "POST", f"{prefix}/partitions/{partition}/studies",
                                body, {"Content-Type": content_type, **JSON})
    return status, json.loads(data) if data else None


def _instance(partition: str, ds: Any) -> str:
    return (f"/v2/partitions/{partition}/studies/{ds.StudyInstanceUID}/series/"
            f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")


def _retrieve(node: Server, partition: str, ds: Any) -> tuple[int, bytes]:
    return http_request(node.port, "GET", _instance(partition, ds), headers=ANY_SYNTAX)


def _found(node: Server, partition: str, query: str) -> list[dict]:
    status, body = http_request(node.port, "GET", f"/v2/partitions/{partition}/{query}",
                                headers=JSON)
    assert status in (200, 204), body
    return json.loads(body) if status == 200 else []


def _wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_what_one_node_stores_the_other_finds_retrieves_and_deletes_at_once(nodes):
    for writer, reader in (nodes, nodes[::-1], nodes):
        ds = make_dataset(study_uid=uid(), PatientID=uid()[-16:])
        data = to_bytes(ds)
        assert _store(writer, "SiteA", ds)[0] == 200
        [study] = _found(reader, "SiteA", f"studies?PatientID={ds.PatientID}")
        assert study["0020000D"]["Value"] == [ds.StudyInstanceUID]
        assert _retrieve(reader, "SiteA", ds)[1].endswith(data[-1000:])
        status, body = http_request(reader.port, "GET", _instance("SiteA", ds) + "/metadata",
                                    headers=JSON)
        assert status == 200 and json.loads(body)[0]["00080018"]["Value"] == [ds.SOPInstanceUID]
        assert http_request(reader.port, "DELETE", f"/v2/partitions/SiteA/studies/"
                                                   f"{ds.StudyInstanceUID}")[0] == 204
        assert _retrieve(writer, "SiteA", ds)[0] == 404
        assert _found(writer, "SiteA", f"studies?PatientID={ds.PatientID}") == []


def test_an_extended_query_tag_added_through_one_node_validates_the_others_next_store(nodes):
    a, b = nodes
    assert _store(b, "SiteA", make_dataset(), prefix="/v1")[0] == 200  # B reads the tags
    status, body = http_request(a.port, "POST", "/extendedquerytags",
                                json.dumps([{"path": "PatientAge", "level": "Study"}]).encode(),
                                {"Content-Type": "application/json"})
    assert status == 202, body
    operation = json.loads(body)["href"].split("/operations/")[1]
    status, response = _store(b, "SiteA", make_dataset(PatientAge="5Y"), prefix="/v1")
    assert status == 409, response  # at once, by the tag A added
    valid = make_dataset(PatientAge="042Y")
    assert _store(b, "SiteA", valid, prefix="/v1")[0] == 200
    _wait_for(lambda: json.loads(http_request(b.port, "GET", f"/operations/{operation}")[1])
              ["status"] == "succeeded", 60, "the re-index")
    [study] = _found(b, "SiteA", "studies?PatientAge=042Y")
    assert study["0020000D"]["Value"] == [valid.StudyInstanceUID]
    assert http_request(a.port, "DELETE", "/extendedquerytags/PatientAge")[0] == 204
    assert _store(b, "SiteA", make_dataset(PatientAge="5Y"), prefix="/v1")[0] == 200


def test_a_reindex_runs_once_and_survives_the_death_of_its_node(nodes_on_files, database_url):
    nodes = nodes_on_files
    a, b = nodes
    datasets = [make_dataset(AcquisitionNumber=str(n)) for n in range(REINDEX_INSTANCES)]
    for first in range(0, len(datasets), 50):
        assert _store(a, "SiteA", *datasets[first:first + 50])[0] == 200
    status, body = http_request(b.port, "POST", "/extendedquerytags",
                                json.dumps([{"path": "AcquisitionNumber",
                                             "level": "Instance"}]).encode(),
                                {"Content-Type": "application/json"})
    assert status == 202, body
    operation = json.loads(body)["href"].split("/operations/")[1]

    def running() -> tuple[str, int] | None:
        rows = _sql(database_url, "SELECT owner, percent_complete, status FROM operations"
                                  " WHERE operation_id = %s", (operation,))
        assert rows and rows[0][2] != "succeeded", "the re-index ended before its node died"
        owner, percent, _ = rows[0]
        return (owner, percent) if owner and percent > 0 else None

    owner, percent = _wait_for(running, 60, "the re-index to start")
    pids = {node.process.pid: node for node in nodes}
    victim = pids[int(owner.split(":")[1])]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert percent < 100
    survivor = b if victim is a else a
    done = _wait_for(lambda: (lambda r: r if r["status"] in ("succeeded", "failed") else None)(
        json.loads(http_request(survivor.port, "GET", f"/operations/{operation}")[1])),
        120, "the survivor to finish the re-index")
    assert done["status"] == "succeeded" and done["percentComplete"] == 100
    [(new_owner, payload)] = _sql(database_url, "SELECT owner, payload FROM operations"
                                                " WHERE operation_id = %s", (operation,))
    assert int(new_owner.split(":")[1]) == survivor.process.pid
    # Resumed from the dead node's last batch, each batch committed once: no instance twice.
    assert json.loads(payload)["processed"] == REINDEX_INSTANCES
    assert _sql(database_url, "SELECT count(*) FROM extended_query_tag_long") == [
        (REINDEX_INSTANCES,)]
    assert len(_found(survivor, "SiteA", "instances?AcquisitionNumber=7&limit=200")) == 1


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_identical_bytes_into_two_partitions_through_both_nodes_at_once(nodes, blob_store,
                                                                        database_url):
    a, b = nodes
    for round_ in range(4):
        ds = make_dataset(study_uid=uid(), rows=32, columns=32 + round_)
        data = to_bytes(ds)
        first, second = (a, b) if round_ % 2 == 0 else (b, a)
        results = _at_once(lambda: _store(first, "One", data), lambda: _store(second, "Two", data))
        assert [status for status, _ in results] == [200, 200]
        key = hashlib.sha256(data).hexdigest()
        assert blob_store.copies(data) == [data]
        assert _sql(database_url, "SELECT ref_count FROM blobs WHERE blob_key = %s",
                    (key,)) == [(2,)]
        assert _retrieve(second, "One", ds) == (200, data)
        assert _retrieve(first, "Two", ds) == (200, data)
        assert http_request(second.port, "DELETE",
                            f"/v2/partitions/One/studies/{ds.StudyInstanceUID}")[0] == 204
        assert _retrieve(first, "One", ds)[0] == 404
        assert _retrieve(first, "Two", ds) == (200, data)
        assert _sql(database_url, "SELECT ref_count FROM blobs WHERE blob_key = %s",
                    (key,)) == [(1,)]
        assert blob_store.copies(data) == [data]


def test_a_delete_racing_a_store_of_the_same_bytes(nodes, blob_store, database_url):
    a, b = nodes
    for round_ in range(6):
        ds = make_dataset(study_uid=uid(), rows=32, columns=32 + round_)
        data = to_bytes(ds)
        deleter, storer = (a, b) if round_ % 2 == 0 else (b, a)
        assert _store(deleter, "One", data)[0] == 200
        deleted, stored = _at_once(
            lambda: http_request(deleter.port, "DELETE",
                                 f"/v2/partitions/One/studies/{ds.StudyInstanceUID}")[0],
            lambda: _store(storer, "Two", data)[0])
        assert (deleted, stored) == (204, 200)
        assert _retrieve(storer, "One", ds)[0] == 404
        for node in nodes:
            assert _retrieve(node, "Two", ds) == (200, data)
        key = hashlib.sha256(data).hexdigest()
        assert blob_store.copies(data) == [data]
        assert _sql(database_url, "SELECT ref_count FROM blobs WHERE blob_key = %s",
                    (key,)) == [(1,)]


@contextmanager
def _row_held(database_url: str, query: str, params: tuple = ()
              ) -> Iterator[Callable[[int], None]]:
    """Hold the row locks of ``query`` (a SELECT ... FOR UPDATE) until the block ends. The
    block gets ``queued(n)``: wait until ``n`` sessions wait for a lock, in the order asked."""
    holder = psycopg2.connect(database_url)
    try:
        with holder.cursor() as cur:
            cur.execute(query, params)
            assert cur.fetchall(), query

        def queued(count: int) -> None:
            _wait_for(lambda: _sql(database_url, "SELECT count(*) FROM pg_stat_activity"
                                                 " WHERE datname = current_database()"
                                                 " AND wait_event_type = 'Lock'")[0][0] >= count,
                      30, f"{count} request(s) waiting for the lock")
        yield queued
    finally:
        holder.commit()
        holder.close()


def _patch(node: Server, path: str, body: Any) -> tuple[int, Any]:
    status, data = http_request(node.port, "PATCH", path, json.dumps(body).encode(),
                                {"Content-Type": "application/json"})
    return status, json.loads(data) if data.startswith((b"{", b"[")) else data


def test_quota_changes_through_both_nodes_at_once_keep_both(nodes_on_files, database_url):
    """Each PATCH reads the partition, then writes its limit and the other one as it read it:
    without a lock, the later write put back the limit the other node had just changed."""
    a, b = nodes_on_files
    assert _store(a, "SiteA", make_dataset())[0] == 200
    with ThreadPoolExecutor(2) as pool, _row_held(
            database_url, "SELECT 1 FROM partitions WHERE partition_name = 'SiteA' FOR UPDATE"
    ) as queued:
        first = pool.submit(_patch, a, "/partitions/SiteA", {"quota": {"maxInstances": 10}})
        second = pool.submit(_patch, b, "/partitions/SiteA", {"quota": {"maxBytes": 10 ** 9}})
        queued(2)
    assert [first.result(60)[0], second.result(60)[0]] == [200, 200]
    status, body = http_request(b.port, "GET", "/partitions/SiteA")
    assert json.loads(body)["quota"] == {"maxInstances": 10, "maxBytes": 10 ** 9}


def test_a_tag_patched_through_one_node_while_another_deletes_it(nodes_on_files, database_url):
    """B read the tag before A's delete committed: its PATCH answers 404 as if it came after
    the delete (it was a 500: the updated tag read back was gone)."""
    a, b = nodes_on_files
    status, body = http_request(a.port, "POST", "/extendedquerytags",
                                json.dumps([{"path": "PatientAge", "level": "Study"}]).encode(),
                                {"Content-Type": "application/json"})
    assert status == 202, body
    _wait_for(lambda: json.loads(http_request(b.port, "GET", "/extendedquerytags/00101010")[1])
              ["status"] == "ready", 60, "the re-index")
    with ThreadPoolExecutor(2) as pool, _row_held(
            database_url, "SELECT 1 FROM extended_query_tags FOR UPDATE") as queued:
        deleted = pool.submit(http_request, a.port, "DELETE", "/extendedquerytags/00101010")
        queued(1)
        patched = pool.submit(_patch, b, "/extendedquerytags/00101010",
                              {"queryStatus": "Disabled"})
        queued(2)
    assert deleted.result(60)[0] == 204
    assert patched.result(60) == (
        404, b"The specified extended query tag with tag path 00101010 cannot be found.")


def _feed(node: Server, offset: int, limit: int = 100) -> list[dict]:
    status, body = http_request(node.port, "GET",
                                f"/v1/changefeed?offset={offset}&limit={limit}"
                                "&includeMetadata=false")
    assert status == 200, body
    return json.loads(body)


def _whole_feed(node: Server) -> list[tuple[int, str]]:
    entries, offset = [], 0
    while page := _feed(node, offset):
        entries += [(e["sequence"], e["sopInstanceUid"]) for e in page]
        offset = page[-1]["sequence"]
    return entries


def test_the_change_feed_has_one_order_and_a_reader_misses_nothing(nodes):
    """Both nodes store (one instance per request, four clients each) while a reader pages
    the v1 feed by sequence through either node in turn, from the last sequence it saw."""
    stop = threading.Event()
    stored: list[str] = []

    def write(node: Server) -> None:
        while not stop.is_set():
            ds = make_dataset()
            if _store(node, "SiteA", ds)[0] == 200:
                stored.append(ds.SOPInstanceUID)

    writers = [threading.Thread(target=write, args=(node,)) for node in nodes for _ in range(4)]
    for thread in writers:
        thread.start()
    seen: list[tuple[int, str]] = []
    offset, turn, deadline = 0, 0, time.time() + 6
    while True:
        writing = time.time() < deadline
        if not writing and not stop.is_set():
            stop.set()
            for thread in writers:
                thread.join(60)
        page = _feed(nodes[turn % 2], offset, 10)
        turn += 1
        if page:
            seen += [(e["sequence"], e["sopInstanceUid"]) for e in page]
            offset = page[-1]["sequence"]
        elif not writing:
            status, body = http_request(nodes[turn % 2].port, "GET", "/v1/changefeed/latest")
            if status == 204 or json.loads(body)["sequence"] <= offset:
                break
            if json.loads(body)["sequence"] > offset + 10:  # a gap (a rolled-back value)
                offset += 10
    whole = _whole_feed(nodes[0])
    assert whole == _whole_feed(nodes[1])
    assert [s for s, _ in whole] == sorted(s for s, _ in whole)
    assert seen == whole  # nothing missed, nothing twice
    assert sorted(sop for _, sop in whole) == sorted(stored) and len(stored) > 20
    v2 = [json.loads(http_request(node.port, "GET", "/v2/changefeed?limit=200"
                                                    "&includeMetadata=false")[1])
          for node in nodes]
    assert v2[0] == v2[1]

"""STOW-RS against a real waitress server: chunked bodies, disconnects, concurrent duplicates."""
from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Any, Iterator

import pytest
from waitress import create_server

from tests.api.stow_support import blob_files, count, failure_reasons, temp_files
from tests.dicom_factory import make_dataset, multipart, to_bytes


@pytest.fixture
def server(make_app) -> Iterator[tuple[Any, int]]:
    """(app, port) of a waitress server on a free loopback port, stopped after the test."""
    app = make_app()
    srv = create_server(app, host="127.0.0.1", port=0, threads=4, channel_timeout=10)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield app, srv.effective_port
    srv.trigger.pull_trigger(srv.close)  # close from the loop's own thread, not mid-select
    thread.join(timeout=10)


def _post(port: int, body: bytes, content_type: str, chunked: bool = False) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if chunked:
        pieces = [body[i:i + 7777] for i in range(0, len(body), 7777)]
        conn.request("POST", "/studies", body=iter(pieces), encode_chunked=True,
                     headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    else:
        conn.request("POST", "/studies", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def _wait_until_idle(app: Any) -> None:
    """Give the server a moment to finish a request whose client went away."""
    deadline = time.time() + 5
    while time.time() < deadline and temp_files(app):
        time.sleep(0.05)


def test_store_chunked_multipart_returns_200(server):
    app, port = server
    body, content_type = multipart([to_bytes(make_dataset()) for _ in range(3)])
    status, _ = _post(port, body, content_type, chunked=True)
    assert status == 200
    assert count(app, "instances") == 3


def test_store_chunked_single_part_returns_200(server):
    app, port = server
    status, _ = _post(port, to_bytes(make_dataset()), "application/dicom", chunked=True)
    assert status == 200
    assert count(app, "instances") == 1


@pytest.mark.parametrize("chunked", [False, True])
def test_store_client_disconnect_mid_upload_leaves_nothing(server, chunked):
    app, port = server
    status, _ = _post(port, to_bytes(make_dataset()), "application/dicom")
    assert status == 200
    files_before = blob_files(app)
    body, content_type = multipart([to_bytes(make_dataset(rows=256, columns=256))
                                    for _ in range(4)])
    sock = socket.create_connection(("127.0.0.1", port))
    head = (f"POST /studies HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n" +
            ("Transfer-Encoding: chunked\r\n" if chunked else
             f"Content-Length: {len(body)}\r\n") + "\r\n").encode()
    half = body[:len(body) // 2]
    sock.sendall(head + (f"{len(half):x}\r\n".encode() + half if chunked else half))
    time.sleep(0.2)
    sock.close()
    _wait_until_idle(app)
    assert count(app, "instances") == 1
    assert blob_files(app) == files_before
    assert temp_files(app) == []
    status, _ = _post(port, to_bytes(make_dataset()), "application/dicom")  # still serving
    assert status == 200


def test_store_concurrent_duplicates_one_succeeds(server):
    app, port = server
    data = to_bytes(make_dataset(rows=128, columns=128))
    barrier = threading.Barrier(2)
    results: list[tuple[int, Any]] = []

    def send() -> None:
        barrier.wait()
        results.append(_post(port, data, "application/dicom"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    import json
    conflict = json.loads([body for status, body in results if status == 409][0])
    assert failure_reasons(conflict) == [45070]
    assert count(app, "instances") == 1 and count(app, "change_feed") == 1
    assert len(blob_files(app)) == 1
    assert temp_files(app) == []


def test_store_concurrent_overlapping_multipart_requests_store_each_once(server):
    app, port = server
    parts = [to_bytes(make_dataset()) for _ in range(6)]
    bodies = [multipart(parts), multipart(parts[::-1])]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(index: int) -> None:
        body, content_type = bodies[index]
        barrier.wait()
        statuses.append(_post(port, body, content_type)[0])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status in (200, 202, 409) for status in statuses), statuses
    assert count(app, "instances") == 6 and count(app, "change_feed") == 6
    assert len(blob_files(app)) == 6 and temp_files(app) == []

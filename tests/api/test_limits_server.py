"""Slow clients and oversized bodies against the real server (``python wsgi.py``, waitress),
issue #15 items 8 and 9. Server settings, not database work: SQLite only."""
from __future__ import annotations

import socket
import time

from bench.common import running_server
from tests.api.helpers import http_request

#: More half-sent requests than waitress's own default connection limit (100).
SLOW_CLIENTS = 110


def _half_header(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /health/check HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def test_slow_clients_do_not_lock_out_a_normal_client():
    with running_server("sqlite", threads=2) as server:
        slow = [_half_header(server.port) for _ in range(SLOW_CLIENTS)]
        try:
            started = time.monotonic()
            status, _ = http_request(server.port, "GET", "/health/check")
            assert status == 200 and time.monotonic() - started < 10
        finally:
            for sock in slow:
                sock.close()


def test_silent_connections_are_closed_after_the_channel_timeout():
    with running_server("sqlite", extra_env={"DICOM_CHANNEL_TIMEOUT": "2"}) as server:
        sock = _half_header(server.port)
        sock.settimeout(20)
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server, no answer
        assert time.monotonic() - started < 15
        sock.close()


def test_body_above_the_request_limit_is_refused_before_it_is_received():
    with running_server("sqlite", extra_env={"DICOM_MAX_REQUEST_SIZE": "1000"}) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /studies HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom"
                         b"\r\nContent-Length: 1000000000\r\n\r\n")
            answer = sock.recv(1000)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        status, _ = http_request(server.port, "GET", "/health/check")
        assert status == 200

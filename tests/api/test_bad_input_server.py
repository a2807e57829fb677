"""Malformed HTTP against the real server (``python wsgi.py``, waitress): no 5xx, no traceback,
and the server keeps serving and keeps what it stored."""
from __future__ import annotations

import socket

from bench.common import running_server
from tests.api.helpers import http_request as _request
from tests.dicom_factory import make_dataset, multipart, to_bytes

BODY, CONTENT_TYPE = multipart([b"x" * 100])

#: (name, raw bytes sent, whether the client closes its side right after sending)
MALFORMED = [
    ("request line", b"GARBAGE\r\n\r\n", False),
    ("request line with bytes", b"GET /studies/\xff\x00 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("bad HTTP version", b"GET /studies HTTP/9.9\r\nHost: x\r\n\r\n", False),
    ("header without colon", b"GET /studies HTTP/1.1\r\nHost x\r\n\r\n", False),
    ("huge header", b"GET /studies HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 300_000 + b"\r\n\r\n",
     False),
    ("invalid Content-Length", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: abc\r\n\r\n", False),
    ("negative Content-Length", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: -5\r\n\r\n", False),
    ("two Content-Lengths", b"POST /studies HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", False),
    ("body shorter than Content-Length", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Content-Type: " + CONTENT_TYPE.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
     + BODY[:50], True),
    ("bad chunk size", b"POST /studies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Type: application/dicom\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", False),
    ("chunk longer than its size", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\nContent-Type: application/dicom\r\n\r\n"
     b"3\r\nabcdefgh\r\n0\r\n\r\n", False),
    ("unterminated chunked body", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\nContent-Type: application/dicom\r\n\r\n5\r\nab", True),
    ("unknown transfer coding", b"POST /studies HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", False),
]


#: The one 5xx HTTP prescribes for bad input: an unknown transfer coding is 501 (RFC 9112 §6.1).
ALLOWED_5XX = {"unknown transfer coding": b"501"}


def _send_raw(port: int, data: bytes, half_close: bool) -> bytes:
    """Send raw bytes; return whatever the server answers before closing or going quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close first (e.g. on the huge header)
            pass
        received = b""
        try:
            while len(received) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                if b"\r\n\r\n" in received and not half_close:
                    break
        except OSError:  # timeout or reset: no answer is fine, a 5xx is not
            pass
        return received


def test_server_malformed_http_no_5xx_and_keeps_serving():
    dataset = make_dataset()
    stored = to_bytes(dataset)
    body, content_type = multipart([stored])
    with running_server("sqlite", threads=4) as server:
        status, _ = _request(server.port, "POST", "/studies", body,
                             {"Content-Type": content_type})
        assert status == 200
        problems = []
        for name, data, half_close in MALFORMED:
            answer = _send_raw(server.port, data, half_close)
            status_line = answer.split(b"\r\n", 1)[0]
            code = status_line[9:12] if status_line.startswith(b"HTTP/") else b""
            if code.startswith(b"5") and ALLOWED_5XX.get(name) != code:
                problems.append(f"{name}: {status_line!r}")
            if b"Traceback" in answer:
                problems.append(f"{name}: traceback in the answer")
            health, _ = _request(server.port, "GET", "/health/check")
            if health != 200:
                problems.append(f"{name}: health check afterwards answered {health}")
        assert not problems, problems

        uids = (f"/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
                f"/instances/{dataset.SOPInstanceUID}")
        status, data = _request(server.port, "GET", uids,
                                headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert status == 200
        assert data == stored

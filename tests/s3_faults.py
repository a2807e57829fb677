"""A fault injector in front of the real SeaweedFS server of ``tests/s3_server.py``: an HTTP
proxy on 127.0.0.1 that forwards every request to it unchanged (the Host header too, so the
client's SigV4 signature still holds) and, while a fault is set, answers the requests it
matches itself with an S3 error (500 InternalError, 503 SlowDown) instead. Like toxiproxy, not a
mock: whatever is not failed is the real store's answer.

    proxy = FaultProxy(server.endpoint_url).start()
    proxy.endpoint_url                 # point the client or the app at this
    proxy.fail(503, "SlowDown", methods={"PUT"})   # until proxy.heal()
    proxy.injected                     # failed answers sent so far, per method
    proxy.close()
"""
from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: Headers that belong to one connection, not to the request (RFC 9110 §7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade", "expect"}
_MESSAGES = {"SlowDown": "Please reduce your request rate.",
             "InternalError": "We encountered an internal error. Please try again."}


class _Fault:
    def __init__(self, status: int, code: str, methods: set[str] | None) -> None:
        self.status, self.code, self.methods = status, code, methods

    def matches(self, method: str) -> bool:
        return self.methods is None or method in self.methods


class FaultProxy:
    """A forwarding proxy to ``target`` (an http:// endpoint) that can fail requests."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.injected: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._fault: _Fault | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int, code: str, methods: set[str] | None = None) -> None:
        """Answer every request (of ``methods``: "GET", "PUT", ...) with this S3 error until
        ``heal``."""
        with self._lock:
            self._fault = _Fault(status, code, methods)

    def heal(self) -> None:
        with self._lock:
            self._fault = None

    def _fault_for(self, method: str) -> _Fault | None:
        with self._lock:
            fault = self._fault
            if fault is not None and fault.matches(method):
                self.injected[method] += 1
                return fault
            self.forwarded[method] += 1
            return None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the store itself

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # quiet

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy._fault_for(self.command)
            if fault is not None:
                self._error(fault)
                return
            upstream = http.client.HTTPConnection(proxy.target_host, proxy.target_port,
                                                  timeout=30)
            try:
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)) if self.command != "HEAD"
                                 else response.getheader("Content-Length") or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        def _error(self, fault: _Fault) -> None:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                    f"<Message>{_MESSAGES.get(fault.code, fault.code)}</Message>"
                    f"<Resource>{self.path}</Resource></Error>").encode()
            self.send_response_only(fault.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

    return Handler

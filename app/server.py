"""Serving: ``python wsgi.py`` serves the app with waitress; with ``DICOM_PROCESSES`` > 1, as a
pre-fork supervisor.

It migrates and checks once, then forks that many processes that accept on one shared listening
socket (``accept_balance.py`` keeps their connection counts even). Every process is complete on
its own (index in the database, files in the blob store, operations claimed with leases), so a
request may land in any of them. SIGTERM or SIGINT to the parent stops every child, then the
parent; a child whose parent dies is stopped by the kernel (Linux ``PR_SET_PDEATHSIG``).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from typing import Any

from flask import Flask

from . import metrics
from . import worker as background_worker
from .accept_balance import ConnectionCounts, balance
from .config import ConfigError, resolve
from .factory import StartupError, create_app, start_blob_sweep, start_cache_check

#: This run's prometheus_client multiprocess directory (several processes), removed at exit.
_metrics_dir: str | None = None


def load_app(serving: bool = False) -> Flask:
    """The app for a WSGI entry point; a server that must not start prints why and exits 1.

    ``serving`` (``python wsgi.py``): with several processes, a metrics directory for this run
    is set up first, before prometheus_client is imported (it picks its mode then), so every
    process's values reach ``/metrics``."""
    global _metrics_dir
    if serving:
        try:
            settings = resolve(os.environ)
        except ConfigError:
            settings = None  # create_app reports it
        if settings and settings["PROCESSES"] > 1 and settings["METRICS_ENABLED"]:
            _metrics_dir = metrics.prepare_multiprocess_dir()
    try:
        return create_app()
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _exit_normally(*_: object) -> None:
    # SystemExit unwinds normally, so atexit hooks run (the background worker hands back its
    # operation at once instead of after its lease).
    sys.exit(0)


def waitress_settings(config: Any) -> dict[str, Any]:
    """The waitress settings for ``config`` (the app's, or anything with the same keys: the
    floor benchmark, bench/floor.py, serves with exactly these)."""
    return dict(
        threads=config["THREADS"], ident="dicomweb",
        # Limits (docs/operations.md, "Limits"): a larger body is answered 413 before it is
        # received; a connection silent for CHANNEL_TIMEOUT seconds (a slow client) is
        # closed, checked every few seconds; poll() instead of select() so more than 1024
        # connections can be open.
        max_request_body_size=config["MAX_REQUEST_SIZE"],
        connection_limit=config["CONNECTION_LIMIT"],
        channel_timeout=config["CHANNEL_TIMEOUT"],
        cleanup_interval=max(1, min(10, config["CHANNEL_TIMEOUT"] // 2)),
        asyncore_use_poll=True,
        # Fewer, larger socket reads. waitress receives a whole body before the app runs:
        # up to DICOM_REQUEST_BUFFER_SIZE (32 MiB: a multipart request of 50 CT images) in
        # memory, a larger one in a temporary file (memory stays flat whatever the size),
        # which costs writing and reading every byte once more.
        recv_bytes=256 * 1024, inbuf_overflow=config["REQUEST_BUFFER_SIZE"],
        # Streamed multipart responses stay in memory up to 16 MiB per connection.
        outbuf_overflow=16 << 20)


def _serve(app: Flask, counts: ConnectionCounts | None = None, index: int = 0,
           **where: object) -> None:
    """Serve with waitress; with ``counts``, as process ``index`` of several that keep their
    numbers of connections even (accept_balance.py)."""
    from waitress import create_server

    server = create_server(app, **waitress_settings(app.config), **where)
    if counts is not None:
        balance(server, counts, index)
    server.run()


#: glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_malloc() -> bool:
    """Keep freed request and response buffers for reuse (glibc; elsewhere nothing happens).

    By default glibc serves a block above 128 KiB with its own mmap and returns it to the
    system when freed, so every request faults its 0.5 MB buffers in again (hundreds of page
    faults each) until a large enough free happens to raise the threshold. These are the values
    that threshold reaches after STOW traffic anyway (mmap above 32 MiB, heap trimmed above
    64 MiB), set at startup so a server that only serves retrieves gets them too."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
                    and libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20))
    except (OSError, AttributeError):
        return False


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(1024)
    return sock


def _stop_with_parent(parent: int) -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (SIGKILL, OOM killer), so no
    server process goes on unsupervised, holding the port."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _child(app: Flask, sock: socket.socket, counts: ConnectionCounts, index: int,
           parent: int) -> None:
    """Serve in a forked process until SIGTERM/SIGINT (or the parent dies); never returns."""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _exit_normally)
    _stop_with_parent(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    # Threads do not survive fork: each process runs its own background worker; the first
    # runs the periodic blob sweep.
    background_worker.init_app(app)
    if index == 0:
        start_blob_sweep(app, at_start=False)
        start_cache_check(app)
    _serve(app, counts, index, sockets=[sock])
    sys.exit(0)


def _serve_forked(app: Flask, processes: int) -> int:
    """Fork ``processes`` servers on one socket; wait for them; return the exit status."""
    # Nothing may run in another thread or hold a connection across fork.
    worker = app.extensions.pop("dicom_worker", None)
    if worker is not None:
        worker.stop()
    sweep = app.extensions.pop("dicom_blob_sweep", None)
    if sweep is not None:  # the background blob sweep: one process runs it after the fork
        if sweep.sweeping:
            print("Waiting for a running blob sweep to finish", file=sys.stderr, flush=True)
        sweep.stop()
    cache_check = app.extensions.pop("dicom_cache_check", None)
    if cache_check is not None:
        cache_check.stop()
    app.extensions["dicom_db"].close()
    app.extensions["dicom_blobs"].close()  # no connection to the object store across fork
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        print(f"Cannot fork: threads still running: {others}", file=sys.stderr)
        return 1
    sock = _listening_socket(app.config["HOST"], app.config["PORT"])
    counts = ConnectionCounts(processes)
    children: set[int] = set()
    state = {"stopping": False, "status": 0}

    def stop_all(*_: object) -> None:
        state["stopping"] = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # Signals wait until the children exist and the handlers are in place.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    parent = os.getpid()
    for index in range(processes):
        pid = os.fork()
        if pid == 0:
            _child(app, sock, counts, index, parent)
        children.add(pid)
    sock.close()
    for signum in _STOP_SIGNALS:
        signal.signal(signum, stop_all)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        metrics.process_exited(pid)
        if not state["stopping"]:
            print(f"Server process {pid} exited (status {status}); stopping the others",
                  file=sys.stderr, flush=True)
            state["status"] = 1
            stop_all()
    return state["status"]


def main(app: Flask) -> None:
    """Serve with waitress on DICOM_HOST:DICOM_PORT: DICOM_PROCESSES x DICOM_THREADS threads."""
    processes = app.config["PROCESSES"]
    if app.config["MALLOC_TUNING"]:
        tune_malloc()  # before the fork: every process inherits it
    print(f"Serving DICOMweb on http://{app.config['HOST']}:{app.config['PORT']} "
          f"(database: {app.extensions['dicom_db'].dialect}, "
          f"partitions: {'on' if app.config['ENABLE_DATA_PARTITIONS'] else 'off'}, "
          f"processes: {processes})", flush=True)
    if processes > 1:
        try:
            status = _serve_forked(app, processes)
        finally:
            if _metrics_dir is not None:
                metrics.remove_multiprocess_dir(_metrics_dir)
        sys.exit(status)
    signal.signal(signal.SIGTERM, _exit_normally)
    _serve(app, host=app.config["HOST"], port=app.config["PORT"])

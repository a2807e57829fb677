"""Scale-out benchmark (issue #17): STOW throughput of two nodes against one.

A node is one ``python wsgi.py`` (``DICOM_PROCESSES=1``, 8 threads). "two nodes" are two of
them on two ports, on one PostgreSQL database and one blob store, as behind a load balancer
(each client connection goes to the next node in turn); "one node" is one of them alone; for
comparison, "one node, 2 processes" is ``DICOM_PROCESSES=2`` (the pre-fork server on one
port). Each configuration runs the same cases, in rounds that alternate the configurations,
so a change of the machine's other load hits every configuration alike.

Usage: ``python -m bench.scale_out [--rounds 3] [--scale 1.0]`` (PostgreSQL only).
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator

from bench.common import (PostConnection, Result, Server, create_pg_database, drive,
                          drop_pg_database, machine_description, running_server)
from bench.stow import (_TICK, PARTS_PER_REQUEST, Instances, _machine_ticks, _post, cpu_snapshot,
                        multipart_chunks)

CONFIGURATIONS = ("one node", "two nodes", "one node, 2 processes")


@contextmanager
def cluster(configuration: str, threads: int) -> Iterator[list[Server]]:
    """The servers of a configuration, on a fresh database and blob store."""
    url = create_pg_database()
    try:
        with ExitStack() as stack:
            processes = "2" if configuration.endswith("2 processes") else "1"
            first = stack.enter_context(running_server(
                "postgresql", threads=threads, database_url=url,
                extra_env={"DICOM_PROCESSES": processes}))
            servers = [first]
            if configuration == "two nodes":
                servers.append(stack.enter_context(running_server(
                    "postgresql", threads=threads, database_url=url,
                    extra_env={"DICOM_PROCESSES": "1",
                               "DICOM_BLOB_STORE_PATH": str(first.data_dir / "blobs")})))
            yield servers
    finally:
        drop_pg_database(url)


def _connect(servers: list[Server]) -> Callable[[str, int], PostConnection]:
    """Each new client connection to the next server in turn (a round-robin balancer)."""
    ports = itertools.cycle([server.port for server in servers])
    return lambda host, _port: PostConnection(host, next(ports))


def single(servers: list[Server], instances: Instances, concurrency: int,
           count: int) -> Result:
    def request(conn: PostConnection, index: int) -> tuple[int, int]:
        chunks = instances.parts(series=index // 100)
        _post(conn, chunks, "application/dicom")
        return 1, sum(len(chunk) for chunk in chunks)

    return drive(servers[0], f"single, c={concurrency}", concurrency, count, request,
                 connect=_connect(servers))


def multipart(servers: list[Server], instances: Instances, concurrency: int,
              count: int) -> Result:
    def request(conn: PostConnection, index: int) -> tuple[int, int]:
        parts = [instances.parts(series=10**5 + index) for _ in range(PARTS_PER_REQUEST)]
        boundary = f"b{index:08d}"
        _post(conn, list(multipart_chunks(parts, boundary)),
              f"multipart/related; type=\"application/dicom\"; boundary={boundary}")
        return len(parts), sum(len(chunk) for part in parts for chunk in part)

    return drive(servers[0], f"multipart x{PARTS_PER_REQUEST}, c={concurrency}", concurrency,
                 count, request, connect=_connect(servers))


def measured(servers: list[Server], run: Callable[[], Result]) -> tuple[Result, float, float,
                                                                         float]:
    """The result, the servers' and PostgreSQL's CPU ms per instance, the machine's idle %."""
    before = [cpu_snapshot(server) for server in servers]
    machine_before = _machine_ticks()
    result = run()
    after = [cpu_snapshot(server) for server in servers]
    machine = [b - a for a, b in zip(machine_before, _machine_ticks())]
    tick_ms = 1000 / _TICK
    server_ms = sum(b[0] - a[0] for a, b in zip(before, after)) * tick_ms / result.items
    # Backends of one database: count them once (every server of a run shares it).
    pg_ms = (after[0][1] - before[0][1]) * tick_ms / result.items
    idle = 100 * (machine[3] + machine[4]) / (sum(machine) or 1)
    return result, server_ms, pg_ms, idle


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.scale_out")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    parser.add_argument("--threads", type=int, default=8, help="DICOM_THREADS per process")
    args = parser.parse_args(argv)
    instances = Instances()
    print(machine_description())
    print(f"instance size: {len(instances.template) / 1e6:.2f} MB, fsync on, PostgreSQL, "
          f"{args.rounds} rounds\n")
    cases = [("single, c=4", lambda s: single(s, instances, 4, max(8, int(400 * args.scale)))),
             ("single, c=8", lambda s: single(s, instances, 8, max(8, int(400 * args.scale)))),
             ("multipart x50, c=4",
              lambda s: multipart(s, instances, 4, max(4, int(12 * args.scale))))]
    rates: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for configuration in CONFIGURATIONS:
            with cluster(configuration, args.threads) as servers:
                single(servers, instances, 2, 10)  # warm-up
                for name, run in cases:
                    result, server_ms, pg_ms, idle = measured(servers, lambda: run(servers))
                    rates.setdefault((configuration, name), []).append(result.items_per_second)
                    print(f"round {round_ + 1}, {configuration}, {name}: "
                          f"{result.items_per_second:,.0f} inst/s, p50 "
                          f"{result.percentile(50) * 1000:,.0f} ms; CPU per instance: servers "
                          f"{server_ms:.2f} ms, PostgreSQL {pg_ms:.2f} ms; machine idle "
                          f"{idle:.0f} %", flush=True)
                instances.verify(servers[-1])
                instances.made.clear()
    print("\n| case | " + " | ".join(CONFIGURATIONS) + " |\n|---|" + "---|" * len(CONFIGURATIONS))
    for name, _ in cases:
        cells = []
        for configuration in CONFIGURATIONS:
            values = rates[(configuration, name)]
            cells.append(f"{statistics.median(values):,.0f} ({min(values):,.0f}-"
                         f"{max(values):,.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\ninst/s: median of the rounds (lowest-highest)")


if __name__ == "__main__":
    main(sys.argv[1:])

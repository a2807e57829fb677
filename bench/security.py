"""What security costs a request: QIDO and single-instance STOW latency with and without tokens.

Two servers on the same backend, each on a fresh database with partitions on: one with security
off, one with authentication and authorization on against a local OpenID provider
(tests/identity_provider.py; the server reads its keys over HTTP once, then keeps them). The
cases alternate between the servers in rounds, so both see the same machine state.

    python -m bench.security                        # PostgreSQL, 5 rounds x 200 requests
    python -m bench.security --backend sqlite --rounds 3 --requests 300
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from tests.identity_provider import AUDIENCE, LocalIdentityProvider

from .common import (TABLE_HEADER, Result, drive, get_request, machine_description, median,
                     running_server)
from .stow import Instances

PARTITION = "/partitions/Site1"
ACCEPT = {"Accept": "application/dicom+json"}


def _stow(instances: Instances, headers: dict[str, str]):
    def request(conn: Any, index: int) -> tuple[int, int]:
        body = b"".join(instances.parts(index % 50))
        conn.request("POST", f"{PARTITION}/studies", body=body, headers={
            **ACCEPT, **headers, "Content-Type": "application/dicom"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"STOW {response.status}")
        return 1, len(body)
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    idp = LocalIdentityProvider()
    token = idp.token(["globalAdmin"], exp=int(time.time()) + 24 * 3600)
    secured = {"DICOM_SECURITY_ENABLED": "true", "DICOM_SECURITY_AUTHORITY": idp.issuer,
               "DICOM_SECURITY_AUDIENCE": AUDIENCE, "DICOM_SECURITY_REQUIRE_HTTPS_METADATA":
               "false", "DICOM_SECURITY_AUTHORIZATION_ENABLED": "true",
               "DICOM_AUDIT_LOG": "false"}
    instances = Instances()
    latencies: dict[str, list[float]] = {}
    with running_server(args.backend, partitions=True) as plain, \
            running_server(args.backend, partitions=True, extra_env=secured) as secure:
        servers = (("no token", plain, {}),
                   ("bearer token", secure, {"Authorization": f"Bearer {token}"}))
        for _, server, headers in servers:  # an index to search, and warm connections
            drive(server, "seed", 4, 200, _stow(instances, headers))
        for _ in range(args.rounds):
            for label, server, headers in servers:
                qido = get_request(lambda _: f"{PARTITION}/studies?limit=10",
                                   {**ACCEPT, **headers})
                for case, request in (("QIDO /studies?limit=10", qido),
                                      ("STOW 1 instance", _stow(instances, headers))):
                    result = drive(server, case, 1, args.requests, request)
                    latencies.setdefault(f"{case}, {label}", []).extend(result.latencies)
    idp.close()
    print(f"{machine_description()}; {args.backend}; {args.rounds} rounds x {args.requests} "
          "requests per case, c=1, alternating servers\n")
    print(TABLE_HEADER)
    for name, values in latencies.items():
        print(Result(name, len(values), len(values), 0, sum(values), values).row())
    for case in ("QIDO /studies?limit=10", "STOW 1 instance"):
        delta = (median(latencies[f"{case}, bearer token"])
                 - median(latencies[f"{case}, no token"])) * 1000
        print(f"\n{case}: p50 with a token minus without: {delta:+.2f} ms")


if __name__ == "__main__":
    main()

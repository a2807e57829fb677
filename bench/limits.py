"""Peak memory of the server under requests that used to exhaust it (issue #15): decompression
bombs, long frame lists, many parts. Each case runs on its own fresh server (``python wsgi.py``)
and reports the server's peak RSS (VmHWM) after startup and after the case.

    python -m bench.limits [--backend sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import http.client
from typing import Callable

from tests.dicom_factory import forged_j2k_dataset, make_dataset, multipart, to_bytes

from .common import Server, machine_description, running_server

EXPLICIT = "1.2.840.10008.1.2.1"
FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def _request(server: Server, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, int]:
    """(status, body length), reading the body in chunks."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=600)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    length = 0
    while chunk := response.read(1 << 20):
        length += len(chunk)
    conn.close()
    return response.status, length


def _store(server: Server, *parts: bytes) -> int:
    body, content_type = multipart(parts)
    return _request(server, "POST", "/studies", body, {"Content-Type": content_type})[0]


def _url(ds) -> str:
    return (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def bomb(server: Server) -> str:
    outcomes = []
    for rows, frames in ((16000, 1), (65535, 1), (16000, 50)):
        ds = forged_j2k_dataset(rows, rows, frames)
        assert _store(server, to_bytes(ds)) == 200
        url = _url(ds)
        statuses = [_request(server, "GET", url + "/rendered")[0],
                    _request(server, "GET", url, headers={
                        "Accept": f"application/dicom; transfer-syntax={EXPLICIT}"})[0]]
        outcomes.append(f"{rows}x{rows}x{frames}: {statuses}")
    return "; ".join(outcomes)


def frames(server: Server) -> str:
    """A 100-frame 512 x 512 16-bit instance (50 MiB): all 100 frames at once, and the 300
    duplicates that built 868 MB before."""
    ds = make_dataset(rows=512, columns=512, frames=100)
    assert _store(server, to_bytes(ds)) == 200
    url = _url(ds) + "/frames/"
    every = _request(server, "GET", url + ",".join(str(n) for n in range(1, 101)),
                     headers={"Accept": FRAMES})
    duplicates = _request(server, "GET", url + ",".join(["1"] * 300), headers={"Accept": FRAMES})
    return f"100 frames: {every[0]}, {every[1] >> 20} MiB; 300 x frame 1: {duplicates[0]}"


def many_parts(server: Server) -> str:
    """10,000 tiny parts (the default limit), then 50,000 (refused)."""
    part = to_bytes(make_dataset())
    outcomes = []
    for count in (10000, 50000):
        outcomes.append(f"{count} parts: {_store(server, *[part] * count)}")
    return "; ".join(outcomes)


CASES: dict[str, Callable[[Server], str]] = {
    "decompression bombs (rendered, transcoded)": bomb,
    "frames": frames,
    "many parts": many_parts,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    print(machine_description())
    print("| case | statuses | peak RSS after startup, MiB | peak RSS after the case, MiB |")
    print("|---|---|---|---|")
    for name, case in CASES.items():
        with running_server(args.backend) as server:
            before = server.peak_rss_kb()
            outcome = case(server)
            after = server.peak_rss_kb()
        print(f"| {name} | {outcome} | {before / 1024:.0f} | {after / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()

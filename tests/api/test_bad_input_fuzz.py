"""Bad input never yields a 500 or a stack trace, and never loses stored data.

A seeded, table-driven fuzzer: every route of the app (all base prefixes, plain and partitioned)
gets random path segments, query strings, headers and bodies drawn from tables of hostile
values. Deterministic (fixed seed, bounded number of requests) so CI is stable; every failure
is collected and reported at once with the request that caused it.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from typing import Any

from tests.api.helpers import store
from tests.dicom_factory import make_dataset, multipart, to_bytes

SEED = int(os.environ.get("FUZZ_SEED", "20261129"))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2500"))

#: Path segments: UIDs with letters, unicode, very long, empty-ish, dot segments, encoded
#: slashes and NULs, invalid percent-encoding, numbers out of range, lists.
SEGMENTS = [
    "abc", "1.2.ab", "1.2.3.", ".1.2", "1..2", "é", "%C3%A9", "\u202e1.2", "日本", "1" * 65,
    "x" * 5000, "..", ".", "%2E%2E", "%2F", "a%2Fb", "%00", "1.2.3%00", "%zz", "%", "%2",
    "%ff%fe", "%C0%AF", "0", "-1", "+1", "1e3", "2147483648", "99999999999999999999", "1,2,a",
    ",,", "1,", ",1", "1-3", " ", "%20", "%0A", "%0D%0A", "null", "00100010", "0010001",
    "ZZZZZZZZ", "00100010.00100010", "00081115.0020000E", "0010,0010", "PatientName",
    "<script>", "\t", "~", "*", "?", "$bulkUpdate", "latest", "Microsoft.Default",
    "a" * 65, "-", "_", "2,1", "3", "1,1", "1,99", "7FE00010", "7FE00010/1", "00101010/x",
    "00281050", "1.2.840.10008.1.2.4.50", "00000000-0000-0000-0000-000000000000", "not-a-guid",
]

QUERY_KEYS = [
    "limit", "offset", "fuzzymatching", "includefield", "PatientName", "00100010", "StudyDate",
    "StudyInstanceUID", "0020000D", "SeriesInstanceUID", "SOPInstanceUID", "Modality",
    "ModalitiesInStudy", "PatientID", "StudyTime", "AccessionNumber", "quality", "viewport",
    "startTime", "endTime", "includeMetadata", "transfer-syntax", "00081030", "0040A730.0040A123",
    "unknown", "", "limit[]", "%00", "00101010", "PatientAge", "x" * 300, "NumberOfFrames",
    "00280008", "InstanceNumber",
]

QUERY_VALUES = [
    "", "1", "0", "-1", "201", "abc", "true", "false", "TRUE", "yes", "*", "?", "**", "a*b?c",
    "%00", "%3C", "%zz", "%", "%E9", "%C3%A9", "é", "\\", "a\\b", ",", "1,2", "1.2.ab",
    "20240102", "2024010", "20240102-", "-20240102", "20240102-20230101", "20249999",
    "101112", "25", "1.5", "1e308", "nan", "inf", "9" * 40, "x" * 10000, "all", "00100010",
    "ZZZZZZZZ", "2024-01-02T00:00:00Z", "2024-13-45", "not a date", "%20", "+", "'", "\"",
    "';--", "%0A",
]

ACCEPTS = [
    None, "", "*/*", "garbage", ";;;", ",,,", "*/*;q=-1", "*/*;q=abc", "*/*;q=2", "*/*;q=nan",
    "application/dicom; transfer-syntax=*", "application/dicom; transfer-syntax=1.2.ab",
    "application/dicom; transfer-syntax=", "application/dicom;q=x;transfer-syntax=*",
    'multipart/related; type="application/dicom"; transfer-syntax=*',
    'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    'multipart/related; type=', "multipart/related", 'multipart/related; type="image/jpeg"',
    "application/octet-stream; transfer-syntax=*", "application/octet-stream; q=0",
    "image/jpeg", "image/png", "image/jpeg; q=0.5, image/png; q=abc", "image/*", "image/gif",
    "application/dicom+json", "application/json; q=0", "application/dicom+json; charset=x",
    "text/html", "text/*", "*/json", "/", "a/b/c", "x" * 8000, "application/dicom" + ";a" * 500,
    'multipart/related; type="application/dicom"; boundary="', "\u00e9/\u00e9",
]

CONTENT_TYPES = [
    None, "", ";", "garbage", "application/dicom", "application/dicom; charset=xx",
    "application/json", "application/json; charset=utf-16", "application/dicom+json",
    "multipart/related", "multipart/related; boundary=",
    'multipart/related; type="application/dicom"',
    'multipart/related; type="application/dicom"; boundary="a"; boundary="b"',
    'multipart/related; type="application/dicom"; boundary=' + "x" * 1000,
    'multipart/related; type="application/dicom"; boundary="unterminated',
    'multipart/related; type="application/octet-stream"; boundary=b',
    'multipart/related; type="application/dicom+json"; boundary=b',
    "multipart/form-data; boundary=b", "text/plain", "\u00e9", "multipart/related; boundary=b",
]

JSON_BODIES = [
    b"", b"[", b"{", b"]", b"null", b"[]", b"{}", b"[{}]", b"[null]", b"1e999", b'"str"',
    b"[" * 5000 + b"]" * 5000, b"\xff\xfe[", b"\x00", b'[{"path": 1}]', b'[{"path": null}]',
    b'[{"path":"00100010","level":"foo"}]', b'[{"path":"00100010","vr":"XX","level":"study"}]',
    b'[{"path":"0010,0010","level":"study"}]', b'[{"path":"x","vr":[],"level":{}}]',
    b'[{"path":"00101010","level":"Study"},]', b'[{"path":"00101010","level":"Study","vr":1}]',
    b'[{"path":"00100010","level":"study","privateCreator":' + b'"a"' * 2 + b"}]",
    b'{"queryStatus":"x"}', b'{"queryStatus":null}', b'{"queryStatus":"enabled","x":1}',
    b'{"queryStatus":1}', b'[{"queryStatus":"disabled"}]', b'{"QUERYSTATUS":"Disabled"}',
    b'{"queryStatus":"disabled"', json.dumps([{"path": "1" * 500, "level": "study"}]).encode(),
    json.dumps([{"path": "00101010", "level": "study"}] * 300).encode(),
]


def _multipart_bodies() -> list[bytes]:
    good = to_bytes(make_dataset())
    return [
        b"", b"\x00" * 10, b"DICM", good[:200], good[:-10], good + b"junk", b"--b\r\n\r\n",
        b"--b\r\nContent-Type: application/dicom\r\n\r\nxyz\r\n--b--\r\n",
        b"--b\r\nContent-Type: \r\n\r\n" + good + b"\r\n--b--\r\n",
        b"--b\r\nContent-Type: application/dicom\r\n\r\n" + good,  # no closing delimiter
        b"--b\r\n" + b"X-Header: " + b"y" * 20000 + b"\r\n\r\n" + good + b"\r\n--b--\r\n",
        b"--b\r\nContent-Type: application/dicom; transfer-syntax=\xff\r\n\r\nz\r\n--b--\r\n",
        b"--b--\r\n", b"--b\r\n--b\r\n--b--", multipart([good[:132]], boundary="b")[0],
        multipart([good], boundary="b", content_type="application/octet-stream")[0],
        multipart([good], boundary="b", content_type=None)[0],
    ]


@dataclass
class Target:
    """What the fuzzer may put into a path variable (real values reach deeper code)."""

    study: str
    series: str
    sop: str
    partition: str
    tag_path: str
    operation_id: str


def _segment(rng: random.Random) -> str:
    value = rng.choice(SEGMENTS)
    return value + rng.choice(SEGMENTS) if rng.random() < 0.1 else value


def _path(rng: random.Random, rule: str, method: str, target: Target) -> str:
    real = {"study": target.study, "series": target.series, "instance": target.sop,
            "partition_name": target.partition, "frames": "1", "frame": "1",
            "tag_path": target.tag_path, "operation_id": target.operation_id,
            "workitem": target.sop,
            "path": "index.html"}  # Swagger UI's files (/docs/<path:path>)
    parts = []
    for piece in rule.strip("/").split("/"):
        if piece.startswith("<"):
            name = piece.strip("<>").split(":")[-1]
            # DELETE never gets the stored study's UIDs: deleting it would be legitimate.
            use_real = method != "DELETE" and rng.random() < 0.75
            parts.append(real[name] if use_real else _segment(rng))
        else:
            parts.append(piece)
    return "/" + "/".join(parts)


def _query(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return ""
    if roll < 0.3:  # 1,000 parameters
        return "&".join(f"p{i}={i}" for i in range(1000))
    pairs = []
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(QUERY_KEYS)
        value = rng.choice(QUERY_VALUES)
        pairs.append(f"{key}={value}" if rng.random() < 0.9 else key)
        if rng.random() < 0.2:  # repeated key
            pairs.append(f"{key}={rng.choice(QUERY_VALUES)}")
    return "&".join(pairs)


def _request(rng: random.Random, rules: list[tuple[str, str]], target: Target,
             stow_bodies: list[bytes]) -> dict[str, Any]:
    # Mostly routes valid in this partition mode, so requests get past the partition hook.
    partitioned = target.partition != "Microsoft.Default"
    fitting = [(rule, method) for rule, method in rules
               if ("<partition_name>" in rule) == partitioned or "/studies" not in rule]
    rule, method = rng.choice(fitting if rng.random() < 0.8 else rules)
    url = _path(rng, rule, method, target)
    query = _query(rng)
    headers: dict[str, str] = {}
    accept = rng.choice(ACCEPTS)
    if accept is not None:
        headers["Accept"] = accept
    if rng.random() < 0.05:
        headers["X-Huge"] = "h" * 60000
    data = None
    if method in ("POST", "PATCH"):
        if "extendedquerytags" in rule:
            data = rng.choice(JSON_BODIES)
            content_type = rng.choice(["application/json"] * 4 + CONTENT_TYPES)
        else:
            data = (rng.choice(stow_bodies) if rng.random() < 0.8
                    else rng.randbytes(rng.randint(0, 3000)))
            content_type = rng.choice(CONTENT_TYPES)
        if content_type is not None:
            headers["Content-Type"] = content_type
    return {"method": method, "url": url + ("?" + query if query else ""), "headers": headers,
            "data": data}


def _rules(app: Any) -> list[tuple[str, str]]:
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  if not rule.rule.startswith("/static")
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def _check(response: Any, method: str, url: str) -> str | None:
    body = response.get_data()
    if response.status_code >= 500:
        return f"status {response.status_code}: {body[:200]!r}"
    if 300 <= response.status_code < 400 and response.status_code != 304:
        return f"redirect {response.status_code} to {response.headers.get('Location')}"
    if b"Traceback" in body or b'File "/' in body:
        return f"traceback in body: {body[:200]!r}"
    # STOW failures carry the DICOM JSON failure dataset (reference.md §3), not text; workitem
    # status results are JSON strings (reference-2.md §1.2).
    json_errors = method == "POST" or "/workitems" in url
    allowed = {"text/plain"} | ({"application/dicom+json"} if json_errors else set())
    if response.status_code >= 400 and body and response.mimetype not in allowed:
        return f"error body is {response.mimetype}: {body[:200]!r}"
    return None


def _describe(req: dict[str, Any]) -> str:
    headers = {k: (v if len(v) < 80 else v[:60] + f"...({len(v)})")
               for k, v in req["headers"].items()}
    data = req["data"]
    return (f"{req['method']} {req['url'][:200]} headers={headers} "
            f"body={(data[:60] if data else data)!r}")


def test_any_route_bad_input_no_500_and_stored_instance_intact(app: Any, client: Any,
                                                               base: str) -> None:
    stored = make_dataset(frames=2)
    stored_bytes = to_bytes(stored)
    assert store(client, base, stored_bytes).status_code == 200
    added = client.post("/extendedquerytags", json=[{"path": "00101010", "level": "study"}])
    assert added.status_code == 202
    target = Target(stored.StudyInstanceUID, stored.SeriesInstanceUID, stored.SOPInstanceUID,
                    base.rsplit("/", 1)[-1] or "Microsoft.Default", "00101010",
                    added.get_json()["id"])
    rng = random.Random(SEED)
    rules = _rules(app)
    stow_bodies = _multipart_bodies()
    failures = []
    for _ in range(REQUESTS):
        req = _request(rng, rules, target, stow_bodies)
        response = client.open(req["url"], method=req["method"], headers=req["headers"],
                               data=req["data"])
        problem = _check(response, req["method"], req["url"])
        response.close()
        if problem:
            failures.append(f"{_describe(req)} -> {problem}")
    assert not failures, f"{len(failures)} bad responses:\n" + "\n".join(failures[:40])

    uids = f"{stored.StudyInstanceUID}/series/{stored.SeriesInstanceUID}/instances/" \
           f"{stored.SOPInstanceUID}"
    response = client.get(f"{base}/studies/{uids}",
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.get_data() == stored_bytes

"""``flask --app wsgi import`` (#22): local into the store, remote over STOW, resume."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.api.helpers import http_request
from tests.api.test_processes import ROOT, _start, _stop
from tests.dicom_factory import make_dataset, to_bytes

SUMMARY = re.compile(r"Stored (\d+), already present (\d+), not DICOM (\d+), failed (\d+)")
BROKEN = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" + b"\xff" * 40


def summary(output: str) -> tuple[int, int, int, int]:
    found = SUMMARY.search(output)
    assert found, output
    return tuple(int(n) for n in found.groups())  # type: ignore[return-value]


def make_tree(root: Path, files: int = 6, archived: int = 3) -> int:
    """DICOM files under nested folders (names with and without .dcm), a zip archive of
    more (and a text member), a text file; return the number of DICOM instances."""
    (root / "a" / "b").mkdir(parents=True)
    for index in range(files):
        folder = root / "a" if index % 2 else root / "a" / "b"
        name = f"IM{index:04d}" if index % 3 else f"image{index}.dcm"
        (folder / name).write_bytes(to_bytes(make_dataset()))
    with zipfile.ZipFile(root / "more.zip", "w") as archive:
        for index in range(archived):
            archive.writestr(f"study/{index}.dcm", to_bytes(make_dataset()))
        archive.writestr("README.txt", "not an image")
    (root / "notes.txt").write_text("not DICOM either")
    return files + archived


def count_instances(client, base: str) -> int:
    response = client.get(f"{base}/instances?limit=200")
    return 0 if response.status_code == 204 else len(response.json)


def test_import_local_folders_and_zip_then_again_counts_present(app, client, base,
                                                                partition_mode, tmp_path):
    total = make_tree(tmp_path / "in")
    (tmp_path / "in" / "broken.dcm").write_bytes(BROKEN)
    args = ["import", str(tmp_path / "in"), "--report", str(tmp_path / "report.jsonl")]
    if partition_mode == "partitioned":
        args += ["--partition", "SiteA"]
    runner = app.test_cli_runner()

    first = runner.invoke(args=args)
    assert summary(first.output) == (total, 0, 2, 1), first.output
    assert first.exit_code == 1  # one file failed
    assert count_instances(client, base) == total
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert sorted((Path(r["file"]).name, r["outcome"]) for r in report) == [
        ("broken.dcm", "failed"), ("more.zip!README.txt", "not DICOM"),
        ("notes.txt", "not DICOM")]
    assert next(r for r in report if r["outcome"] == "failed")["reason"] == "43264"

    (tmp_path / "in" / "broken.dcm").unlink()
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert summary(again.output) == (0, total, 2, 0)
    assert count_instances(client, base) == total


def test_import_local_partition_option_must_fit_the_feature(make_app, tmp_path):
    make_tree(tmp_path / "in", files=1, archived=0)
    off = make_app().test_cli_runner().invoke(
        args=["import", str(tmp_path / "in"), "--partition", "SiteA"])
    assert off.exit_code == 2 and "partitions are off" in off.output
    on = make_app(ENABLE_DATA_PARTITIONS=True).test_cli_runner()
    assert on.invoke(args=["import", str(tmp_path / "in")]).exit_code == 2
    bad = on.invoke(args=["import", str(tmp_path / "in"), "--partition", "a b"])
    assert bad.exit_code == 2


def _import(tmp_path: Path, folder: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DICOM_DATA_DIR": str(tmp_path / "cli"), "DICOM_LOG_LEVEL": "WARNING",
           "DICOM_ENABLE_BACKGROUND_WORKER": "false", "DICOM_SWEEP_BLOBS_AT_STARTUP": "false"}
    env.pop("DICOM_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "import",
                             str(folder), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _server_count(port: int) -> int:
    status, body = http_request(port, "GET", "/instances?limit=200",
                                headers={"Accept": "application/dicom+json"})
    return 0 if status == 204 else len(json.loads(body))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_import_remote_interrupted_then_resumed(tmp_path):
    """A real server; the import is killed part way (SIGKILL), then run again: every instance
    ends up stored once, the second run counts the first run's as already present."""
    folder = tmp_path / "in"
    folder.mkdir()
    total = 120
    for index in range(total):
        (folder / f"{index:05d}").write_bytes(to_bytes(make_dataset()))
    (folder / "notes.txt").write_text("not DICOM")
    (tmp_path / "server").mkdir()
    server, port = _start(tmp_path / "server")
    try:
        url = f"http://127.0.0.1:{port}/v2"
        first = _import(tmp_path, folder, "--url", url, "--batch-files", "1", "--workers", "1")
        _wait_until_stored(first, port, 5)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        at_kill = _server_count(port)
        assert 5 <= at_kill < total, "the import finished before it was interrupted"

        second = _import(tmp_path, folder, "--url", url, "--token", "t0k3n")
        output, errors = second.communicate(timeout=300)
        assert second.returncode == 0, output + errors
        stored, present, not_dicom, failed = summary(output)
        assert (stored + present, not_dicom, failed) == (total, 1, 0)
        assert present >= at_kill
        assert "files," in errors  # plain progress lines when not on a terminal
        assert _server_count(port) == total
    finally:
        _stop(server)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_import_stopped_by_sigterm_reports_how_far_it_got(tmp_path):
    """SIGTERM (a service manager stopping the import) ends it as Ctrl-C does: the batches in
    flight finish, the summary says what was stored, exit status 130."""
    folder = tmp_path / "in"
    folder.mkdir()
    total = 120
    for index in range(total):
        (folder / f"{index:05d}").write_bytes(to_bytes(make_dataset()))
    (tmp_path / "server").mkdir()
    server, port = _start(tmp_path / "server")
    try:
        run = _import(tmp_path, folder, "--url", f"http://127.0.0.1:{port}/v2",
                      "--batch-files", "1", "--workers", "1")
        _wait_until_stored(run, port, 5)
        run.send_signal(signal.SIGTERM)
        output, errors = run.communicate(timeout=120)
        assert run.returncode == 130, output + errors
        assert "Interrupted: run the same command again" in output
        stored, present, not_dicom, failed = summary(output)
        assert 5 <= stored < total and (present, not_dicom, failed) == (0, 0, 0)
        assert stored == _server_count(port)
        assert "Traceback" not in errors
    finally:
        _stop(server)


def _wait_until_stored(run: subprocess.Popen, port: int, count: int) -> None:
    """Until the server holds ``count`` instances (the import ``run`` still going)."""
    deadline = time.time() + 120
    while _server_count(port) < count:
        assert run.poll() is None, run.communicate()
        assert time.time() < deadline, "the import stored nothing"
        time.sleep(0.05)


def _zip_with_flags(path: Path, name: str, data: bytes, corrupt: str) -> None:
    """A zip archive of one member, made hostile: ``encrypted`` (the flag set: a password
    would be needed), ``crc`` (a byte of the member changed), ``directory`` (the central
    directory's signature broken)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, data)
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    if corrupt == "encrypted":
        raw[6] |= 1
        raw[central + 8] |= 1
    elif corrupt == "crc":
        raw[raw.find(data[200:220])] ^= 0xFF
    else:
        raw[central:central + 4] = b"XXXX"
    path.write_bytes(raw)


def test_import_hostile_archives_links_and_special_files_are_failures(
        app, client, base, partition_mode, tmp_path):
    """Corrupt or encrypted archives, links and a FIFO: each a failure in the summary and the
    report, the rest imported; a link is not followed (the file outside is not imported)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(to_bytes(make_dataset()))
    for corrupt in ("encrypted", "crc", "directory"):
        _zip_with_flags(folder / f"{corrupt}.zip", "x.dcm", to_bytes(make_dataset()), corrupt)
    (tmp_path / "outside.dcm").write_bytes(to_bytes(make_dataset()))
    (folder / "link.dcm").symlink_to(tmp_path / "outside.dcm")
    (folder / "loop").symlink_to(folder)
    (folder / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(folder / "fifo")
    args = ["import", str(folder), "--report", str(tmp_path / "report.jsonl")]
    if partition_mode == "partitioned":
        args += ["--partition", "SiteA"]

    result = app.test_cli_runner().invoke(args=args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    assert summary(result.output) == (1, 0, 0, 7), result.output
    assert count_instances(client, base) == 1
    report = {Path(r["file"]).name: r["reason"]
              for r in map(json.loads, (tmp_path / "report.jsonl").read_text().splitlines())}
    assert report == {
        "encrypted.zip!x.dcm": "unreadable: encrypted zip member (not supported)",
        "crc.zip!x.dcm": "unreadable: Bad CRC-32 for file 'x.dcm'",
        "directory.zip": "unreadable zip archive: Bad magic number for central directory",
        "link.dcm": "symbolic link: not followed", "loop": "symbolic link: not followed",
        "dangling": "symbolic link: not followed", "fifo": "not a regular file"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="wait4 rusage")
def test_import_zip_bomb_is_streamed_and_bounded(tmp_path):
    """A 5 MB archive whose member expands to 1 GB: read as a stream (the process stays far
    below 1 GB), not DICOM; a Part-10 member or file above DICOM_MAX_REQUEST_SIZE is refused
    without being read."""
    folder = tmp_path / "in"
    folder.mkdir()
    head = to_bytes(make_dataset())
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        with archive.open("zeros", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(bytes(1 << 20))
        with archive.open("large.dcm", "w") as member:
            member.write(head + bytes(4 << 20))
    (folder / "large.dcm").write_bytes(head + bytes(4 << 20))
    (folder / "small.dcm").write_bytes(head)
    out, err = (open(tmp_path / name, "w+") for name in ("out", "err"))
    with out, err:
        env = {**os.environ, "DICOM_DATA_DIR": str(tmp_path / "cli"),
               "DICOM_LOG_LEVEL": "WARNING", "DICOM_MAX_REQUEST_SIZE": str(1 << 20),
               "DICOM_ENABLE_BACKGROUND_WORKER": "false",
               "DICOM_SWEEP_BLOBS_AT_STARTUP": "false"}
        env.pop("DICOM_DATABASE_URL", None)
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "import",
                                    str(folder), "--report", str(tmp_path / "report.jsonl")],
                                   cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
        err.seek(0)
        assert process.returncode == 1, output + err.read()
    assert summary(output) == (1, 0, 1, 2)
    assert usage.ru_maxrss < 400_000, usage.ru_maxrss  # kB: the member is 1 GB
    reasons = {Path(r["file"]).name: r["reason"]
               for r in map(json.loads, (tmp_path / "report.jsonl").read_text().splitlines())}
    too_large = f"larger than DICOM_MAX_REQUEST_SIZE ({1 << 20} bytes)"
    assert reasons == {"bomb.zip!zeros": "no DICM prefix after a 128-byte preamble",
                       "bomb.zip!large.dcm": too_large, "large.dcm": too_large}

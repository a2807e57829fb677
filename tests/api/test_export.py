"""Export (issue #19, reference-2.md §3): the request's validation and switch, the filesystem
destination's root, and the operation's files, errors log, results and progress."""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from app.services.operations import run_next_operation
from app.worker import new_owner, run_pending_once, settings_of
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, to_bytes, uid

JSON_HEADERS = {"Content-Type": "application/json"}


def body(values, destination=None, **settings):
    return {"source": {"type": "identifiers", "settings": {"values": values}},
            "destination": destination or {"type": "filesystem", "settings": settings}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    return path


@pytest.fixture
def app(make_app, partition_mode, root):
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", ENABLE_EXPORT=True,
                    EXPORT_ROOT=str(root))


@pytest.fixture
def client(app, base):
    client = app.test_client()
    assert store(client, base, make_dataset()).status_code == 200  # creates the partition
    return client


def _export(client, base, payload, prefix=""):
    response = client.post(f"{prefix}{base}/export", json=payload)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response


def _operation(client, operation_id, prefix=""):
    return client.get(f"{prefix}/operations/{operation_id}")


def _seed(client, base):
    """Two series of two instances and one of one in a study, and another study; the bytes
    of each instance by (study, series, sop)."""
    study, other = uid(), uid()
    series = [uid(), uid(), uid()]
    datasets = [make_dataset(study, series[n], rows=4 + n, columns=4 + i)
                for n, count in enumerate((2, 2, 1)) for i in range(count)]
    datasets.append(make_dataset(other))
    assert store(client, base, *datasets).status_code == 200
    files = {(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID): to_bytes(ds)
             for ds in datasets}
    return study, series, other, files


def _results(folder: Path) -> dict[tuple[str, str, str], bytes]:
    found = {}
    for path in (folder / "results").rglob("*"):
        if path.is_file():
            relative = path.relative_to(folder / "results").parts
            assert len(relative) == 3 and relative[2].endswith(".dcm"), relative
            found[(relative[0], relative[1], relative[2][:-4])] = path.read_bytes()
    return found


def _errors(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "errors.log").read_text().splitlines()]


# --- validation and switch ---------------------------------------------------------------------

FIELD = "The field '{}' in request body is invalid: {}"
BAD_BODIES = [
    ([1], FIELD.format("$", "The JSON value could not be converted to ExportInput.")),
    ({"destination": {"type": "filesystem"}},
     FIELD.format("Source", "The Source field is required.")),
    ({"source": {"type": "identifiers", "settings": {"values": ["1.2"]}}},
     FIELD.format("Destination", "The Destination field is required.")),
    ({"source": "identifiers", "destination": {"type": "filesystem"}},
     FIELD.format("$.source", "The JSON value could not be converted to ExportSource.")),
    ({"source": {"type": "files", "settings": {"values": ["1.2"]}},
      "destination": {"type": "filesystem"}},
     FIELD.format("$.source.type", "Expected value 'files' to be one of the following values: "
                                   "['Identifiers', 'Unknown']")),
    ({"source": {"type": "unknown", "settings": {"values": ["1.2"]}},
      "destination": {"type": "filesystem"}},
     FIELD.format("Source", "Expected value 'Type' to be one of the following values: "
                            "[Identifiers]")),
    ({"source": {"type": 7, "settings": {"values": ["1.2"]}},
      "destination": {"type": "filesystem"}},
     FIELD.format("$.source.type", "Expected token type 'String' but read 'Number' instead.")),
    (body(["1.2"], {"type": "azureblob", "settings": {}}),
     FIELD.format("$.destination.type", "Expected value 'azureblob' to be one of the "
                                        "following values: ['Filesystem', 'S3', 'Unknown']")),
    (body(["1.2"], {"type": None}),
     FIELD.format("Destination", "Expected value 'Type' to be one of the following values: "
                                 "[Filesystem, S3]")),
    (body(["1.2"], {"type": "filesystem", "settings": {"path": ["a"]}}),
     FIELD.format("$.destination.settings.path",
                  "Expected token type 'String' but read 'StartArray' instead.")),
    (body([]), "Missing value for property 'Values'."),
    ({"source": {"type": "identifiers"}, "destination": {"type": "filesystem"}},
     "Missing value for property 'Values'."),
    (body(["1.2/3.4/5.6/7.8"]),
     "The string '1.2/3.4/5.6/7.8' was not recognized as a valid DICOM identifier."),
    (body(["1.2/abc"]), "The string '1.2/abc' was not recognized as a valid DICOM identifier."),
    (body(["1.2/"]), "The string '1.2/' was not recognized as a valid DICOM identifier."),
    (body([" 1.2"]), "The string ' 1.2' was not recognized as a valid DICOM identifier."),
    (body([12]), "The string '12' was not recognized as a valid DICOM identifier."),
    (body(["1.2"] * 4), "At most 3 identifiers can be exported at once."),
]


def test_invalid_bodies_get_the_reference_texts(make_app, root, base, partition_mode):
    for enabled in (True, False):  # the body is checked before the switch
        app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                       ENABLE_EXPORT=enabled, EXPORT_ROOT=str(root), EXPORT_MAX_IDENTIFIERS=3)
        client = app.test_client()
        store(client, base, make_dataset())
        for payload, text in BAD_BODIES:
            response = client.post(f"/v1{base}/export", json=payload)
            assert (response.status_code, response.get_data(as_text=True)) == (400, text)
            assert response.mimetype == "text/plain"
        names = {"SOURCE": {"TYPE": "IDENTIFIERS", "Settings": {"VALUES": ["1.2"]}},
                 "Destination": {"Type": "FileSystem"}}  # names and values ignore case
        response = client.post(f"{base}/export", json=names)
        assert response.status_code == (202 if enabled else 404)
        assert len(os.listdir(root)) == 1  # the folder of the one queued export


def test_export_off_is_404_with_an_empty_body(make_app, root, base, partition_mode):
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", EXPORT_ROOT=str(root))
    client = app.test_client()
    store(client, base, make_dataset())
    response = client.post(f"/v2{base}/export", json=body(["1.2"]))
    assert (response.status_code, response.data) == (404, b"")
    assert os.listdir(root) == []


def test_body_media_type_syntax_and_size(client, base):
    response = client.post(f"{base}/export", data=json.dumps(body(["1.2"])),
                           headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.data) == (415, b"")
    response = client.post(f"{base}/export", data=b"{", headers=JSON_HEADERS)
    assert (response.status_code, response.data) == (
        400, b"The syntax of the request body is invalid.")
    huge = json.dumps(body(["1.2"] * 600_000)).encode()
    response = client.post(f"{base}/export", data=huge, headers=JSON_HEADERS)
    assert response.status_code == 413


def test_paths_outside_the_root_are_refused(client, base, root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "inside").mkdir()
    (root / "link").symlink_to(root / "inside")
    (root / "file").write_text("x")
    refused = {
        "../outside": "The export path '../outside' must not contain '..'.",
        "a/../../outside": "The export path 'a/../../outside' must not contain '..'.",
        str(outside): f"The export path '{outside}' is outside the export root.",
        "/": "The export path '/' is outside the export root.",
        "escape": "The export path 'escape' is outside the export root.",
        "escape/deeper": "The export path 'escape/deeper' is outside the export root.",
        "file": "The export path 'file' is not a folder.",
    }
    for path, text in refused.items():
        response = client.post(f"{base}/export", json=body(["1.2"], path=path))
        assert (response.status_code, response.get_data(as_text=True)) == (400, text), path
    assert list(outside.iterdir()) == []
    # Inside the root: relative, absolute, through a link that stays inside, or the root.
    for path, folder in (("site/a", root / "site" / "a"), (str(root / "inside"), root / "inside"),
                         ("link", root / "inside"), ("", root)):
        operation_id = _export(client, base, body(["1.2"], path=path)).json["id"]
        assert (folder / operation_id / "errors.log").is_file(), path


def test_filesystem_destination_needs_a_root(make_app, base, partition_mode):
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", ENABLE_EXPORT=True)
    store(app.test_client(), base, make_dataset())
    response = app.test_client().post(f"{base}/export", json=body(["1.2"], path="x"))
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, "The filesystem export destination is not configured on this server "
             "(DICOM_EXPORT_ROOT).")


# --- the operation ------------------------------------------------------------------------------

def test_export_copies_studies_series_and_instances(app, client, base, root):
    study, series, other, files = _seed(client, base)
    one = next(key for key in files if key[1] == series[1])
    missing = [uid(), f"{study}/{uid()}", f"{study}/{series[0]}/{uid()}"]
    values = [f"{study}/{series[0]}", "/".join(one), other, *missing]
    response = _export(client, base, body(values, path="site"), prefix="/v2")
    operation_id = response.json["id"]
    href = f"http://localhost/v2/operations/{operation_id}"
    assert response.json == {"id": operation_id, "href": href}
    assert response.headers["Location"] == href
    queued = _operation(client, operation_id)
    assert queued.status_code == 202
    assert (queued.json["type"], queued.json["status"]) == ("export", "notStarted")

    assert run_pending_once(app) == 1
    folder = root / "site" / operation_id
    expected = {key: data for key, data in files.items()
                if key[1] == series[0] or key == one or key[0] == other}
    assert _results(folder) == expected  # byte for byte, the reference's layout
    done = _operation(client, operation_id)
    assert done.status_code == 200
    assert done.json["status"] == "succeeded"
    assert done.json["percentComplete"] == 100
    assert done.json["results"] == {"errorHref": (folder / "errors.log").as_uri(),
                                    "exported": 4, "skipped": 3}
    assert _operation(client, operation_id, "/v1").json["status"] == "completed"
    errors = _errors(folder)
    assert [(e["identifier"], e["error"]) for e in errors] == [
        (missing[0], "The specified study cannot be found."),
        (missing[1], "The specified series cannot be found."),
        (missing[2], "The specified instance cannot be found.")]
    for entry in errors:
        assert list(entry) == ["timestamp", "identifier", "error"]
        assert datetime.fromisoformat(entry["timestamp"]).utcoffset() is not None
    assert not list(folder.rglob("*.part"))


def test_export_resumes_after_an_interruption_without_duplicates(app, client, base, root):
    """Batches of one instance; the worker stops after each of the first batches and another
    one resumes: percentComplete moves, every file once, the counts are exact."""
    study, series, _, files = _seed(client, base)
    app.config["EXPORT_BATCH_SIZE"] = 1
    operation_id = _export(client, base, body([study, uid()]))
    operation_id = operation_id.json["id"]
    settings = settings_of(app)
    seen = []
    with app.extensions["dicom_db"].connection() as conn:
        for _ in range(3):
            calls = iter([False, True])  # one batch, then "stop"
            assert run_next_operation(conn, new_owner(), settings, lambda: next(calls))
            operation = _operation(client, operation_id).json
            assert operation["status"] == "running"
            seen.append(operation["percentComplete"])
    assert seen == [20, 40, 60]  # 5 instances
    assert run_pending_once(app) == 1
    folder = root / operation_id
    assert _results(folder) == {k: v for k, v in files.items() if k[0] == study}
    results = _operation(client, operation_id).json["results"]
    assert (results["exported"], results["skipped"]) == (5, 1)
    assert len(_errors(folder)) == 1


def test_export_reads_only_its_partition(make_app, root):
    app = make_app(ENABLE_DATA_PARTITIONS=True, ENABLE_EXPORT=True, EXPORT_ROOT=str(root))
    client = app.test_client()
    study = uid()
    in_a = make_dataset(study, rows=8)
    in_b = make_dataset(study, in_a.SeriesInstanceUID, in_a.SOPInstanceUID, rows=16)
    assert store(client, "/partitions/SiteA", in_a).status_code == 200
    assert store(client, "/partitions/SiteB", in_b).status_code == 200
    operation_id = _export(client, "/partitions/SiteA", body([study, uid()])).json["id"]
    run_pending_once(app)
    assert _results(root / operation_id) == {
        (study, in_a.SeriesInstanceUID, in_a.SOPInstanceUID): to_bytes(in_a)}
    response = client.post("/partitions/SiteC/export", json=body([study]))
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, "Specified PartitionName does not exist.")


def test_instances_deleted_before_the_run_are_skipped(app, client, base, root):
    study, series, _, files = _seed(client, base)
    operation_id = _export(client, base, body([study, f"{study}/{series[2]}"])).json["id"]
    assert client.delete(f"{base}/studies/{study}/series/{series[2]}").status_code == 204
    run_pending_once(app)
    results = _operation(client, operation_id).json["results"]
    assert (results["exported"], results["skipped"]) == (4, 1)
    assert len(_results(root / operation_id)) == 4


def test_a_destination_moved_out_of_the_root_fails_the_operation(app, client, base, root,
                                                                 tmp_path):
    study, _, _, _ = _seed(client, base)
    operation_id = _export(client, base, body([study], path="moved")).json["id"]
    outside = tmp_path / "elsewhere"
    (root / "moved").rename(outside)
    (root / "moved").symlink_to(outside)
    run_pending_once(app)
    operation = _operation(client, operation_id).json
    assert operation["status"] == "failed"
    assert not (outside / operation_id / "results").exists()


def test_a_very_deep_folder_is_made_or_refused_not_a_500(client, base, root):
    """os.makedirs recursed once per missing level: a folder a thousand levels deep was a
    RecursionError (500). Now it is made; a path beyond the system's limit is a 400 and
    makes no folder."""
    levels = 1200
    try:
        operation_id = _export(client, base, body(["1.2"], path="a/" * levels)).json["id"]
        assert (root / ("a/" * levels) / operation_id / "errors.log").is_file()
    finally:  # shutil.rmtree (pytest's clean-up too) recurses per level: remove it here
        deepest = root / ("a/" * levels)
        for child in (deepest.iterdir() if deepest.is_dir() else ()):
            (child / "errors.log").unlink(missing_ok=True)
            child.rmdir()
        for depth in range(levels, 0, -1):
            if (root / ("a/" * depth)).is_dir():
                (root / ("a/" * depth)).rmdir()
    too_long = "b/" * 3000
    response = client.post(f"{base}/export", json=body(["1.2"], path=too_long))
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, f"Failed to write to the export folder '{too_long}'.")
    assert not (root / "b").exists()


def test_a_hostile_path_is_refused_at_once_not_a_500(client, base, root):
    """The path was resolved (os.path.realpath, whose work grows with the square of the number
    of components) before its length was checked: a 2 MB path of a million levels held the
    request for over a minute of CPU. A lone surrogate, which no file name can hold, was a
    500. Both are refused before anything is resolved or made; "." components still resolve."""
    # answered at all (no time limit here: the quadratic resolve took minutes per request)
    for path in ("a/" * 1_000_000, "./" * 1_000_000 + "c/" * 3000):
        response = client.post(f"{base}/export", json=body(["1.2"], path=path))
        assert (response.status_code, response.get_data(as_text=True)) == (
            400, f"Failed to write to the export folder '{path}'.")
    assert not (root / "a").exists() and not (root / "c").exists()
    operation_id = _export(client, base, body(["1.2"], path="./" * 500_000 + "d")).json["id"]
    assert (root / "d" / operation_id / "errors.log").is_file()
    response = client.post(f"{base}/export", json=body(["1.2"], path="e/\ud800"))
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, "Failed to write to the export folder 'e/?'.")
    assert not (root / "e").exists()

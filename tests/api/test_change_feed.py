"""Change feed (issue #6, reference.md §7): v1 and v2 paging, states, metadata, partitions."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from tests.api.helpers import store
from tests.dicom_factory import make_dataset, uid

ENTRY_KEYS = ["sequence", "partitionName", "studyInstanceUid", "seriesInstanceUid",
              "sopInstanceUid", "action", "timestamp", "state", "metadata"]


def instance_path(ds) -> str:
    return (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def test_change_feed_after_store_returns_create_entries(client, base, partition_mode):
    study = uid()
    first, second = make_dataset(study), make_dataset(study)
    assert store(client, base, first, second).status_code == 200

    response = client.get("/changefeed")  # global, also when partitions are on
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    entries = response.json
    assert [e["sopInstanceUid"] for e in entries] == [first.SOPInstanceUID,
                                                      second.SOPInstanceUID]
    entry = entries[0]
    assert list(entry) == ENTRY_KEYS
    assert entry["action"] == "Create" and entry["state"] == "Current"
    assert entry["partitionName"] == ("SiteA" if partition_mode == "partitioned"
                                      else "Microsoft.Default")
    assert entry["studyInstanceUid"] == study
    assert datetime.fromisoformat(entry["timestamp"]).tzinfo is not None
    assert entry["metadata"]["00080018"]["Value"] == [first.SOPInstanceUID]
    pixel_uri = entry["metadata"]["7FE00010"]["BulkDataURI"]
    assert pixel_uri == f"http://localhost{base}{instance_path(first)}/bulkdata/7FE00010"

    latest = client.get(f"/v1{base}/changefeed/latest" if base else "/v1/changefeed/latest")
    assert latest.status_code == 200
    assert latest.json["sopInstanceUid"] == second.SOPInstanceUID


def test_change_feed_create_delete_recreate_reads_replaced_replaced_current(client, base):
    ds = make_dataset()
    assert store(client, base, ds).status_code == 200
    assert client.delete(f"{base}{instance_path(ds)}").status_code == 204

    latest = client.get("/changefeed/latest").json
    assert (latest["action"], latest["state"]) == ("Delete", "Deleted")
    assert "metadata" not in latest
    states = [(e["action"], e["state"]) for e in client.get("/v1/changefeed").json]
    assert states == [("Create", "Deleted"), ("Delete", "Deleted")]

    assert store(client, base, ds).status_code == 200
    entries = client.get("/v2/changefeed").json
    assert [(e["action"], e["state"]) for e in entries] == [
        ("Create", "Replaced"), ("Delete", "Replaced"), ("Create", "Current")]
    assert all("metadata" in e for e in entries)
    assert entries[0]["metadata"] == entries[2]["metadata"]


def test_change_feed_study_delete_appends_one_entry_per_instance(make_app):
    client = make_app().test_client()
    study = uid()
    datasets = [make_dataset(study) for _ in range(3)]
    assert store(client, "", *datasets).status_code == 200
    assert client.delete(f"/studies/{study}").status_code == 204
    entries = client.get("/changefeed").json
    assert [e["action"] for e in entries] == ["Create"] * 3 + ["Delete"] * 3
    assert {e["state"] for e in entries} == {"Deleted"}
    assert [e["sopInstanceUid"] for e in entries[3:]] == [d.SOPInstanceUID for d in datasets]


def test_change_feed_v1_pages_by_sequence_window(make_app):
    client = make_app().test_client()
    datasets = [make_dataset() for _ in range(12)]
    assert store(client, "", *datasets).status_code == 200
    for prefix in ("/v1", "/v1.0-prerelease"):
        default = client.get(f"{prefix}/changefeed").json
        assert [e["sequence"] for e in default] == list(range(1, 11))
        page = client.get(f"{prefix}/changefeed?offset=10&limit=5").json
        assert [e["sequence"] for e in page] == [11, 12]
        window = client.get(f"{prefix}/changefeed?Offset=3&LIMIT=2&includeMetadata=False").json
        assert [e["sequence"] for e in window] == [4, 5]
        assert all("metadata" not in e for e in window)
        assert client.get(f"{prefix}/changefeed?offset=100").json == []


def test_change_feed_v2_pages_by_time_window(make_app):
    client = make_app().test_client()
    for _ in range(4):  # separate requests: distinct timestamps
        assert store(client, "", make_dataset()).status_code == 200
    entries = client.get("/changefeed").json
    v2 = client.get("/v2/changefeed").json
    assert len(entries) == 4 and [e["sequence"] for e in v2] == [1, 2, 3, 4]
    assert v2[0]["metadata"]["7FE00010"]["BulkDataURI"].startswith("http://localhost/v2/studies/")
    stamps = [e["timestamp"] for e in entries]

    def sequences(query: str) -> list[int]:
        response = client.get(f"/changefeed?{query}")
        assert response.status_code == 200, response.data
        return [e["sequence"] for e in response.json]

    assert sequences(f"startTime={quote(stamps[1])}") == [2, 3, 4]
    assert sequences(f"startTime={quote(stamps[1])}&endTime={quote(stamps[3])}") == [2, 3]
    assert sequences(f"startTime={quote(stamps[1])}&offset=1&limit=1") == [3]
    assert sequences(f"endTime={quote(stamps[0])}") == []
    # an unencoded '+' arrives as a space; the offset is still understood
    assert sequences(f"startTime={stamps[2]}") == [3, 4]
    assert sequences("limit=2&offset=1&includeMetadata=false") == [2, 3]
    assert client.get("/changefeed/latest").json["sequence"] == 4
    # times keep .NET's 100 ns ticks: 100 ns after an entry's timestamp excludes it
    utc = datetime.fromisoformat(stamps[1]).astimezone(timezone.utc)
    tick_after = f"{utc:%Y-%m-%dT%H:%M:%S.%f}1Z"
    assert sequences(f"startTime={tick_after}") == [3, 4]
    assert sequences(f"startTime={quote(stamps[1])}&endTime={tick_after}") == [2]


@pytest.mark.parametrize("prefix", ["", "/v2", "/v1"])
def test_change_feed_latest_of_empty_feed_returns_204(make_app, prefix):
    client = make_app().test_client()
    response = client.get(f"{prefix}/changefeed/latest")
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"{prefix}/changefeed").json == []


V2_ERRORS = {
    "limit=-1": "'Limit' is invalid. The field Limit must be between 1 and 200.",
    "limit=0": "'Limit' is invalid. The field Limit must be between 1 and 200.",
    "limit=201": "'Limit' is invalid. The field Limit must be between 1 and 200.",
    "limit=blah": "'Limit' is invalid. The value 'blah' is not valid for Limit.",
    "limit=1_0": "'Limit' is invalid. The value '1_0' is not valid for Limit.",
    "limit=": "'Limit' is invalid. The value '' is invalid.",
    "offset=-1": "'Offset' is invalid. The field Offset must be between 0 and 2147483647.",
    "offset=blah": "'Offset' is invalid. The value 'blah' is not valid for Offset.",
    "offset=92233720368547758070":
        "'Offset' is invalid. The value '92233720368547758070' is not valid for Offset.",
    "includeMetadata=0": "'includeMetadata' is invalid. The value '0' is not valid for "
                         "includeMetadata.",
    "includeMetadata=true-ish": "'includeMetadata' is invalid. The value 'true-ish' is not "
                                "valid for includeMetadata.",
    "includeMetadata=boolean": "'includeMetadata' is invalid. The value 'boolean' is not valid "
                               "for includeMetadata.",
    "startTime=foo&endTime=2023-05-03T10:58:00Z": "'StartTime' is invalid. ",
    "startTime=2023-05-03T10:58:00Z&endTime=bar": "'EndTime' is invalid. ",
    "startTime=2023-05-03T10:58:00&endTime=2023-05-03T11:00:00Z":
        "'StartTime' is invalid. Date and time value must specify a time zone.",
    "startTime=2023-05-03T10:58:00Z&endTime=2023-05-03T11:00:00":
        "'EndTime' is invalid. Date and time value must specify a time zone.",
    "startTime=2023-05-03T10:58:00Z&endTime=2023-05-03T10:58:00Z":
        "'' is invalid. The start time '2023-05-03T10:58:00.0000000+00:00' must occur strictly "
        "before the end time '2023-05-03T10:58:00.0000000+00:00'.",
    "startTime=2023-05-03T12:59:00%2B02:00&endTime=2023-05-03T10:58:00Z":
        "'' is invalid. The start time '2023-05-03T10:59:00.0000000+00:00' must occur strictly "
        "before the end time '2023-05-03T10:58:00.0000000+00:00'.",
    "startTime=2023-05-03T12:58:00.1234567%2B02:00&endTime=2023-05-03T10:58:00.1234567Z":
        "'' is invalid. The start time '2023-05-03T10:58:00.1234567+00:00' must occur strictly "
        "before the end time '2023-05-03T10:58:00.1234567+00:00'.",
    "startTime=2023-05-03T10:58:00.99999999Z&endTime=2023-05-03T10:58:01Z":
        "'' is invalid. The start time '2023-05-03T10:58:01.0000000+00:00' must occur strictly "
        "before the end time '2023-05-03T10:58:01.0000000+00:00'.",
    "endTime=0001-01-01T00:00:00Z":
        "'' is invalid. The start time '0001-01-01T00:00:00.0000000+00:00' must occur strictly "
        "before the end time '0001-01-01T00:00:00.0000000+00:00'.",
}
V1_ERRORS = {
    "limit=101": "'limit' is invalid. The field limit must be between 1 and 100.",
    "limit=0": "'limit' is invalid. The field limit must be between 1 and 100.",
    "limit=blah": "'limit' is invalid. The value 'blah' is not valid for limit.",
    "offset=-1": "'offset' is invalid. The field offset must be between 0 and "
                 "9223372036854775807.",
    "offset=92233720368547758070":
        "'offset' is invalid. The value '92233720368547758070' is not valid for offset.",
    "includeMetadata=1": "'includeMetadata' is invalid. The value '1' is not valid for "
                         "includeMetadata.",
}


def test_change_feed_invalid_parameters_return_400_with_reference_texts(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    cases = [(p, q, t) for p in ("", "/v2", "/partitions/Microsoft.Default",
                                 "/v2/partitions/Microsoft.Default")
             for q, t in V2_ERRORS.items()]
    cases += [(p, q, t) for p in ("/v1", "/v1.0-prerelease", "/v1/partitions/Microsoft.Default")
              for q, t in V1_ERRORS.items()]
    for prefix, query, text in cases:
        response = client.get(f"{prefix}/changefeed?{query}")
        assert response.status_code == 400, (prefix, query)
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == f"The query parameter {text}", (prefix, query)
    for prefix in ("", "/v1", "/partitions/Microsoft.Default"):
        latest = client.get(f"{prefix}/changefeed/latest?includeMetadata=asdf")
        assert latest.status_code == 400
        assert latest.get_data(as_text=True) == (
            "The query parameter 'includeMetadata' is invalid. The value 'asdf' is not valid "
            "for includeMetadata.")
    assert client.get("/v1/changefeed?limit=100&offset=9223372036854775807").json == []
    assert client.get("/changefeed?limit=200&includeMetadata=TRUE").status_code == 200
    assert client.get("/changefeed?startTime=2023-05-03T10:58:00.0000001Z"
                      "&endTime=2023-05-03T10:58:00.0000002Z").json == []


def test_partition_change_feed_returns_only_that_partitions_entries(make_app):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    a, b = make_dataset(), make_dataset()
    assert store(client, "/partitions/SiteA", a).status_code == 200
    assert store(client, "/partitions/SiteB", b).status_code == 200
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
    assert client.delete(f"/partitions/SiteB{instance_path(b)}").status_code == 204

    assert len(client.get("/changefeed").json) == 4
    for prefix in ("", "/v2", "/v1", "/v1.0-prerelease"):
        site_a = client.get(f"{prefix}/partitions/SiteA/changefeed").json
        assert [e["partitionName"] for e in site_a] == ["SiteA", "SiteA"]
        assert [e["sequence"] for e in site_a] == [1, 3]
        site_b = client.get(f"{prefix}/partitions/siteb/changefeed/latest").json
        assert (site_b["partitionName"], site_b["action"], site_b["sequence"]) == \
            ("SiteB", "Delete", 4)
        assert client.get(f"{prefix}/partitions/Microsoft.Default/changefeed").json == []
        assert client.get(f"{prefix}/partitions/Microsoft.Default/changefeed/latest"
                          ).status_code == 204
    v1 = client.get("/v1/partitions/SiteA/changefeed?offset=1&limit=1").json
    assert [e["sequence"] for e in v1] == [3]
    v2 = client.get("/partitions/SiteA/changefeed?offset=1").json
    assert [e["sequence"] for e in v2] == [3]
    assert v2[0]["metadata"]["7FE00010"]["BulkDataURI"].startswith(
        "http://localhost/partitions/SiteA/studies/")

    for path in ("/partitions/NoSuchSite/changefeed",
                 "/v1/partitions/NoSuchSite/changefeed/latest"):
        response = client.get(path)
        assert response.status_code == 400
        assert response.get_data(as_text=True) == "Specified PartitionName does not exist."
    bad = client.get("/partitions/bad name/changefeed")
    assert bad.status_code == 400
    assert bad.get_data(as_text=True) == "The specified PartitionName is invalid. "


def test_partition_change_feed_with_feature_off_returns_400(make_app):
    client = make_app().test_client()
    for path in ("/partitions/Microsoft.Default/changefeed", "/v1/partitions/x/changefeed/latest"):
        response = client.get(path)
        assert response.status_code == 400
        assert response.get_data(as_text=True) == "Data partitions feature is disabled."
    assert client.get("/changefeed").status_code == 200


def test_change_feed_shows_nothing_after_an_entry_still_in_flight(make_app, backend,
                                                                   database_url):
    """Two writers: one takes sequence 2 and has not committed, the next takes 3 and commits.
    A reader paging by sequence (or by time) that saw 3 would move past 2 and never see it:
    every read stops before the oldest entry in flight (PostgreSQL, schema 0140; on SQLite
    writes commit one at a time)."""
    if backend != "postgresql":
        pytest.skip("SQLite commits change-feed entries in sequence order")
    import psycopg2

    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200

    def seen(path: str) -> list[int]:
        response = client.get(path)
        assert response.status_code in (200, 204), response.data
        if response.status_code == 204:
            return []
        body = response.json
        return [e["sequence"] for e in (body if isinstance(body, list) else [body])]

    paths = ["/v1/changefeed", "/v2/changefeed", "/v1/changefeed/latest",
             "/v2/changefeed/latest", "/partitions/SiteA/changefeed?offset=0",
             "/v1/partitions/SiteA/changefeed", "/v1/partitions/SiteA/changefeed/latest"]
    writer = psycopg2.connect(database_url)  # the writer in flight (sequence 2)
    try:
        with writer.cursor() as cur:
            cur.execute("INSERT INTO change_feed (timestamp, action, partition_key,"
                        " study_instance_uid, series_instance_uid, sop_instance_uid,"
                        " original_watermark, current_watermark)"
                        " VALUES (now(), 1, 2, '1.2', '1.2.3', '1.2.3.4', 999, NULL)"
                        " RETURNING sequence")
            assert cur.fetchone()[0] == 2
        assert store(client, "/partitions/SiteA", make_dataset()).status_code == 200
        assert {path: seen(path) for path in paths} == {
            "/v1/changefeed": [1], "/v2/changefeed": [1], "/v1/changefeed/latest": [1],
            "/v2/changefeed/latest": [1], "/partitions/SiteA/changefeed?offset=0": [1],
            "/v1/partitions/SiteA/changefeed": [1], "/v1/partitions/SiteA/changefeed/latest": [1]}
        writer.commit()
    finally:
        writer.close()
    assert {path: seen(path) for path in paths} == {
        "/v1/changefeed": [1, 2, 3], "/v2/changefeed": [1, 2, 3], "/v1/changefeed/latest": [3],
        "/v2/changefeed/latest": [3], "/partitions/SiteA/changefeed?offset=0": [1, 2, 3],
        "/v1/partitions/SiteA/changefeed": [1, 2, 3],
        "/v1/partitions/SiteA/changefeed/latest": [3]}

"""QIDO-RS over extended query tags, the read side (issue #5; definitions and values are
written directly in SQL here, as issue #7's indexing would)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.api.edge import get_database
from app.dicomweb import extended_query_tag_values
from app.services.extended_query_tag_values import folded_value
from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset, uid

from .test_qido_errors import not_queryable

STUDY, SERIES, INSTANCE = 2, 1, 0
#: path, vr, level, tag_status, query_status, error_count, private creator
DEFINITIONS = [
    ("00101010", "AS", STUDY, 1, 1, 0, None),      # PatientAge
    ("00200012", "IS", INSTANCE, 1, 1, 0, None),   # AcquisitionNumber
    ("00189087", "FD", INSTANCE, 1, 1, 0, None),   # DiffusionBValue
    ("00080021", "DA", SERIES, 1, 1, 0, None),     # SeriesDate
    ("0008002A", "DT", INSTANCE, 1, 1, 0, None),   # AcquisitionDateTime
    ("00080031", "TM", SERIES, 1, 1, 0, None),     # SeriesTime
    ("00081050", "PN", SERIES, 1, 1, 0, None),     # PerformingPhysicianName
    ("00081040", "LO", STUDY, 1, 0, 0, None),      # InstitutionalDepartmentName (disabled)
    ("00081010", "SH", SERIES, 0, 1, 0, None),     # StationName (adding)
    ("00100021", "LO", STUDY, 1, 1, 2, None),      # IssuerOfPatientID (errors)
    ("00091001", "LO", STUDY, 1, 1, 0, "ACME"),    # private
]
VALUES = [  # per instance: path -> raw value
    {"00101010": "045Y", "00200012": "0003", "00189087": "1000.5", "00080021": "20240101",
     "0008002A": "20240101101500", "00080031": "101500", "00081050": "House^Gregory",
     "00100021": "ISSUER", "00091001": "secret"},
    {"00101010": "030Y", "00200012": "7", "00189087": "0", "00080021": "20230101",
     "0008002A": "2023", "00080031": "23", "00081050": "Wilson^James",
     "00100021": "OTHER", "00091001": "public"},
]


@pytest.fixture
def client(make_app):
    app = make_app()
    client = app.test_client()
    datasets = [make_dataset(PatientAge="045Y", AcquisitionNumber=3,
                             PerformingPhysicianName="House^Gregory", SeriesDate="20240101"),
                make_dataset(PatientAge="030Y", AcquisitionNumber=7,
                             PerformingPhysicianName="Wilson^James", SeriesDate="20230101")]
    assert store(client, "", *datasets).status_code == 200
    now = datetime.now(timezone.utc)
    with get_database(app).connection() as conn, conn.transaction():
        rows = conn.fetchall("SELECT partition_key, study_key, series_key, instance_key,"
                             " watermark FROM instances ORDER BY watermark")
        keys = {}
        for path, vr, level, status, query_status, errors, creator in DEFINITIONS:
            conn.execute("INSERT INTO extended_query_tags (tag_path, tag_vr, tag_private_creator,"
                         " tag_level, tag_status, query_status, error_count, created_time)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (path, vr, creator, level, status, query_status, errors, now))
            keys[path] = conn.fetchall("SELECT tag_key FROM extended_query_tags"
                                       " WHERE tag_path = ?", (path,))[0]["tag_key"]
        for row, instance_values in zip(rows, VALUES):
            for path, raw in instance_values.items():
                vr, level = next((d[1], d[2]) for d in DEFINITIONS if d[0] == path)
                _insert_value(conn, keys[path], vr, level, row, raw)
    return client


def _insert_value(conn, tag_key, vr, level, row, raw):
    table = extended_query_tag_values.table_name(vr)
    series_key = row["series_key"] if level <= SERIES else 0
    instance_key = row["instance_key"] if level == INSTANCE else 0
    columns = "tag_key, partition_key, study_key, series_key, instance_key, watermark, tag_value"
    params = [tag_key, row["partition_key"], row["study_key"], series_key, instance_key,
              row["watermark"]]
    if vr == "PN":
        name, words = extended_query_tag_values.normalize_person_name(raw)
        columns += ", tag_value_words, tag_value_folded"
        params += [name, words, folded_value("person_name", name)]
    else:
        value = extended_query_tag_values.normalize(vr, raw)
        params.append(value)
        if table == "extended_query_tag_string":
            columns += ", tag_value_folded"
            params.append(folded_value("string", value))
    marks = ", ".join("?" for _ in params)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", params)


def _count(client, url):
    response = client.get(url)
    if response.status_code == 204:
        return 0
    assert response.status_code == 200, (url, response.get_data(as_text=True))
    return len(response.json)


def test_search_extended_query_tags_match_by_type(client):
    cases = [
        ("/studies?PatientAge=045Y", 1),
        ("/studies?00101010=03*", 1),
        ("/instances?AcquisitionNumber=3", 1),
        ("/instances?AcquisitionNumber=03", 1),
        ("/instances?DiffusionBValue=1000.5", 1),
        ("/instances?DiffusionBValue=0.0", 1),
        ("/series?SeriesDate=20230101-", 2),
        ("/series?SeriesDate=-20231231", 1),
        ("/instances?AcquisitionDateTime=2023", 1),
        ("/instances?AcquisitionDateTime=20240101-20240101235959", 1),
        ("/series?SeriesTime=1015-1100", 1),
        ("/series?SeriesTime=23", 1),
        ("/series?PerformingPhysicianName=house%5Egregory", 1),
        ("/series?PerformingPhysicianName=WIL*", 1),
        ("/series?fuzzymatching=true&PerformingPhysicianName=greg%20hou", 1),
        ("/series?fuzzymatching=true&PerformingPhysicianName=james%20h", 0),
        ("/studies?00091001=secret", 1),
        ("/instances?PatientAge=030Y&AcquisitionNumber=7", 1),
        ("/instances?PatientAge=030Y&AcquisitionNumber=3", 0),
    ]
    for url, expected in cases:
        assert _count(client, url) == expected, url


def test_search_extended_query_tag_returned_and_errors_header(client):
    response = client.get("/studies?PatientAge=045Y")
    [study] = response.json
    assert values(study, "00101010") == ["045Y"]  # from the stored metadata
    assert "erroneous-dicom-attributes" not in response.headers
    response = client.get("/studies?IssuerOfPatientID=ISSUER&PatientAge=045Y")
    assert response.status_code == 200
    assert response.headers["erroneous-dicom-attributes"] == "IssuerOfPatientID"


def test_search_extended_query_tag_rules_return_400(client):
    cases = [
        ("/studies?AcquisitionNumber=3", not_queryable("AcquisitionNumber")),
        ("/studies?SeriesDate=20240101", not_queryable("SeriesDate")),
        ("/series?StationName=X", not_queryable("StationName")),
        ("/studies/1.2/series?PatientAge=045Y", not_queryable("PatientAge")),
        ("/studies?InstitutionalDepartmentName=X",
         "Query is disabled on specified attribute 'InstitutionalDepartmentName'."),
        ("/instances?AcquisitionNumber=x", "Invalid query: specified value 'x' extended query "
         "tag with path '00200012' is not a valid long value."),
        ("/instances?DiffusionBValue=nan", "Invalid query: specified value 'nan' extended query "
         "tag with path '00189087' is not a valid double value."),
        ("/instances?AcquisitionDateTime=20240101%2B0100", "Invalid query: specified DateTime "
         "value '20240101+0100' for attribute AcquisitionDateTime contains offset which is not "
         "supported."),
    ]
    for url, text in cases:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.get_data(as_text=True) == text, url


def test_search_extended_query_tag_values_of_other_partitions_ignored(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    study = uid()
    for name in ("A", "B"):
        assert store(client, f"/partitions/{name}", make_dataset(study)).status_code == 200
    now = datetime.now(timezone.utc)
    with get_database(app).connection() as conn, conn.transaction():
        conn.execute("INSERT INTO extended_query_tags (tag_path, tag_vr, tag_level, tag_status,"
                     " query_status, error_count, created_time) VALUES (?, ?, ?, 1, 1, 0, ?)",
                     ("00101010", "AS", STUDY, now))
        tag_key = conn.fetchall("SELECT tag_key FROM extended_query_tags")[0]["tag_key"]
        row = conn.fetchall("SELECT i.partition_key, study_key, series_key, instance_key,"
                            " watermark FROM instances i JOIN partitions p"
                            " ON p.partition_key = i.partition_key"
                            " WHERE p.partition_name = 'B'")[0]
        _insert_value(conn, tag_key, "AS", STUDY, row, "045Y")
    assert _count(client, "/partitions/A/studies?PatientAge=045Y") == 0
    assert _count(client, "/partitions/B/studies?PatientAge=045Y") == 1

"""Extended query tags: background re-index, store-time indexing, errors (issue #7, §8.3)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from app.api.edge import get_database
from app.dao import operations as operations_dao
from app.services.operations import WorkerSettings, run_next_operation
from app.worker import run_pending_once
from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset, uid

TAGS = [
    {"path": "PatientAge", "level": "Study"},                     # AS -> string, study level
    {"path": "AcquisitionDate", "level": "Series"},               # DA -> datetime, series level
    {"path": "AcquisitionDateTime", "level": "Instance"},         # DT -> datetime
    {"path": "AcquisitionTime", "level": "Instance"},             # TM -> datetime
    {"path": "AcquisitionNumber", "level": "Instance"},           # IS -> long
    {"path": "Rows", "level": "Instance"},                        # US -> long
    {"path": "DiffusionBValue", "level": "Instance"},             # FD -> double
    {"path": "PerformingPhysicianName", "level": "Series"},       # PN -> person_name
    {"path": "00091001", "vr": "LO", "privateCreator": "ACME", "level": "Instance"},
]


def _rows(app, sql, params=()):
    with get_database(app).connection() as conn:
        return [tuple(r) if not isinstance(r, dict) else tuple(r.values())
                for r in conn.fetchall(sql, params)]


def _dataset(study=None, series=None, **attrs):
    ds = make_dataset(study_uid=study, series_uid=series, PatientAge="042Y",
                      AcquisitionDate="20240315", AcquisitionDateTime="20240315101112.5",
                      AcquisitionTime="1011", AcquisitionNumber="7", DiffusionBValue=1000.5,
                      PerformingPhysicianName="Smith^Anna=Sm", **attrs)
    block = ds.private_block(0x0009, "ACME", create=True)
    block.add_new(0x01, "LO", "private-value")
    return ds


def _add_tags(client, *tags):
    response = client.post("/extendedquerytags", json=list(tags or TAGS))
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.json["id"]


def test_reindex_indexes_every_stored_instance_at_its_level(app, client, base):
    study, series = uid(), uid()
    assert store(client, base, _dataset(study, series), _dataset(study, series),
                 _dataset()).status_code == 200
    operation_id = _add_tags(client)
    assert run_pending_once(app) == 1
    operation = client.get(f"/operations/{operation_id}")
    assert operation.status_code == 200
    assert operation.json["status"] == "succeeded"
    assert operation.json["percentComplete"] == 100
    tags = client.get("/extendedquerytags").json
    assert {t["status"] for t in tags} == {"ready"}
    assert {t["queryStatus"] for t in tags} == {"enabled"}
    assert "operation" not in tags[0]

    def table(name):
        return sorted(r[0] for r in _rows(app, f"SELECT tag_value FROM extended_query_tag_{name}"))

    assert table("string") == ["042Y", "042Y"] + ["private-value"] * 3  # one row per study
    assert table("datetime") == ["101100.000000"] * 3 + ["20240315"] * 2 + [
        "20240315101112.500000"] * 3
    assert table("long") == [4, 4, 4, 7, 7, 7]
    assert table("double") == [1000.5] * 3
    assert _rows(app, "SELECT tag_value, tag_value_words FROM extended_query_tag_person_name"
                 ) == [("Smith^Anna=Sm", "smith anna sm")] * 2
    partition_keys = {r[0] for r in _rows(app, "SELECT partition_key FROM "
                                               "extended_query_tag_long")}
    assert partition_keys == ({2} if base else {1})


def test_store_after_tag_added_indexes_new_instances(app, client, base):
    _add_tags(client, {"path": "PatientAge", "level": "Study"})
    assert store(client, base, _dataset()).status_code == 200  # indexed while "adding"
    assert _rows(app, "SELECT tag_value FROM extended_query_tag_string") == [("042Y",)]
    run_pending_once(app)
    assert store(client, base, _dataset()).status_code == 200  # and once ready
    assert len(_rows(app, "SELECT tag_value FROM extended_query_tag_string")) == 2


def test_store_study_level_value_latest_wins(make_app):
    app = make_app()
    client = app.test_client()
    _add_tags(client, {"path": "PatientAge", "level": "Study"})
    run_pending_once(app)
    study = uid()
    store(client, "", _dataset(study))
    store(client, "", make_dataset(study_uid=study, PatientAge="043Y"))
    assert _rows(app, "SELECT tag_value FROM extended_query_tag_string") == [("043Y",)]


def test_reindex_invalid_value_records_error_and_disables_query(make_app):
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    client = app.test_client()
    bad = make_dataset(PatientAge="5Y")  # v1 does not validate tags that are not indexed
    assert store(client, "/partitions/SiteA", bad, _dataset(), prefix="/v1").status_code == 200
    _add_tags(client, {"path": "PatientAge", "level": "Study"})
    run_pending_once(app)
    tag = client.get("/v1/extendedquerytags/PatientAge").json
    assert tag["status"] == "ready"
    assert tag["queryStatus"] == "disabled"
    assert tag["errors"] == {"count": 1,
                             "href": "http://localhost/v1/extendedquerytags/00101010/errors"}
    errors = client.get("/extendedquerytags/PatientAge/errors")
    assert errors.status_code == 200
    [error] = errors.json
    assert error["studyInstanceUid"] == bad.StudyInstanceUID
    assert error["seriesInstanceUid"] == bad.SeriesInstanceUID
    assert error["sopInstanceUid"] == bad.SOPInstanceUID
    assert error["partitionName"] == "SiteA"
    assert error["errorMessage"] == "Value length is not expected."
    assert datetime.fromisoformat(error["createdTime"]).tzinfo is not None
    assert client.get("/extendedquerytags/PatientAge/errors?offset=1").json == []
    # the user may re-enable querying; deleting removes the errors too
    assert client.patch("/extendedquerytags/PatientAge",
                        json={"queryStatus": "Enabled"}).json["queryStatus"] == "enabled"
    assert client.delete("/extendedquerytags/PatientAge").status_code == 204
    assert _rows(app, "SELECT count(*) FROM extended_query_tag_errors") == [(0,)]
    assert _rows(app, "SELECT count(*) FROM extended_query_tag_string") == [(0,)]


def test_store_v1_invalid_value_of_indexed_tag_fails_instance(make_app):
    app = make_app()
    client = app.test_client()
    _add_tags(client, {"path": "PatientAge", "level": "Study"})
    response = store(client, "", make_dataset(PatientAge="5Y"), prefix="/v1")
    assert response.status_code == 409
    [failed] = values(response.json, "00081198")
    assert values(failed, "00081197") == [43264]
    [comment] = values(failed, "00741048")
    assert values(comment, "00000902") == [
        "DICOM100: (0010,1010) - Dicom element 'PatientAge' failed validation for VR 'AS': "
        "Value length is not expected."]


def test_store_v2_invalid_value_of_indexed_tag_warns(make_app):
    app = make_app()
    client = app.test_client()
    _add_tags(client, {"path": "00091001", "vr": "AS", "privateCreator": "ACME",
                       "level": "Instance"})
    ds = make_dataset()
    ds.private_block(0x0009, "ACME", create=True).add_new(0x01, "AS", "5Y")
    response = store(client, "", ds, prefix="/v2")
    assert response.status_code == 202
    [item] = values(response.json, "00081199")
    assert values(item, "00081196") == [1]
    assert [values(c, "00000902") for c in values(item, "00741048")] == [[
        "DICOM100: (0009,1001) - Dicom element '00091001' failed validation for VR 'AS': "
        "Value length is not expected."]]
    assert _rows(app, "SELECT count(*) FROM extended_query_tag_string") == [(0,)]


def test_reindex_interrupted_resumes_from_last_batch(make_app):
    app = make_app(REINDEX_BATCH_SIZE=2)
    client = app.test_client()
    store(client, "", *[_dataset() for _ in range(5)])
    operation_id = _add_tags(client, {"path": "AcquisitionNumber", "level": "Instance"})
    calls = []
    assert run_pending_once(app, should_stop=lambda: len(calls) > 1 or calls.append(1)) == 1
    operation = client.get(f"/operations/{operation_id}")
    assert operation.status_code == 202
    assert operation.json["status"] == "running"
    assert operation.json["percentComplete"] == 40
    assert len(_rows(app, "SELECT tag_value FROM extended_query_tag_long")) == 2
    assert run_pending_once(app) == 1  # released: any worker resumes at once
    assert client.get(f"/operations/{operation_id}").json["status"] == "succeeded"
    assert len(_rows(app, "SELECT tag_value FROM extended_query_tag_long")) == 5


def test_reindex_of_crashed_worker_is_retried_after_lease(make_app):
    app = make_app(OPERATION_LEASE_SECONDS=30)
    client = app.test_client()
    store(client, "", _dataset())
    operation_id = _add_tags(client, {"path": "AcquisitionNumber", "level": "Instance"})
    now = datetime.now(timezone.utc)
    with get_database(app).connection() as conn:  # a process claims it, then dies
        claimed = operations_dao.claim_next_operation(conn, "dead", now, 30.0)
    assert claimed.operation_id == operation_id
    assert run_pending_once(app) == 0  # the lease is still valid
    with get_database(app).connection() as conn:
        assert run_next_operation(conn, "alive", WorkerSettings(30, 100)) is False
    assert client.get(f"/operations/{operation_id}").json["status"] == "running"
    app.config["OPERATION_LEASE_SECONDS"] = 0
    assert run_pending_once(app) == 1
    assert client.get(f"/operations/{operation_id}").json["status"] == "succeeded"


def test_reindex_two_workers_run_an_operation_once(make_app):
    app = make_app()
    client = app.test_client()
    store(client, "", _dataset(), _dataset())
    _add_tags(client, {"path": "AcquisitionNumber", "level": "Instance"})
    counts = []
    threads = [threading.Thread(target=lambda: counts.append(run_pending_once(app)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 1]
    assert len(_rows(app, "SELECT tag_value FROM extended_query_tag_long")) == 2


def test_background_worker_runs_reindex(make_app):
    app = make_app(ENABLE_BACKGROUND_WORKER=True, WORKER_POLL_SECONDS=0.1)
    client = app.test_client()
    store(client, "", _dataset())
    operation_id = _add_tags(client, {"path": "PatientAge", "level": "Study"})
    deadline = time.time() + 20
    while time.time() < deadline:
        response = client.get(f"/v1/operations/{operation_id}")
        if response.status_code == 200:
            break
        time.sleep(0.05)
    assert response.status_code == 200
    assert response.json["status"] == "completed"
    assert client.get("/extendedquerytags/PatientAge").json["status"] == "ready"


@pytest.mark.parametrize("vr_value", [("DA", "2024-03-15")])
def test_reindex_value_of_unexpected_form_is_an_error(make_app, vr_value):
    app = make_app()
    client = app.test_client()
    store(client, "", make_dataset(AcquisitionDate=vr_value[1]), prefix="/v1")
    _add_tags(client, {"path": "AcquisitionDate", "level": "Instance"})
    run_pending_once(app)
    [error] = client.get("/extendedquerytags/AcquisitionDate/errors").json
    assert error["errorMessage"] == "Value cannot be parsed as a valid date."
    assert "partitionName" not in error


def test_reindex_error_of_too_long_value_names_no_limit(app, client, base):
    """The error row keeps the reference's code message; the store's comment names the limit."""
    too_long = make_dataset(BodyPartExamined="X" * 17)  # CS: at most 16
    assert store(client, base, too_long, prefix="/v1").status_code == 200
    _add_tags(client, {"path": "BodyPartExamined", "level": "Instance"})
    run_pending_once(app)
    [error] = client.get("/extendedquerytags/BodyPartExamined/errors").json
    assert error["errorMessage"] == "Value length exceeds maximum length."
    response = store(client, base, make_dataset(BodyPartExamined="Y" * 17), prefix="/v1")
    assert response.status_code == 409
    [failed] = values(response.json, "00081198")
    [comment] = values(failed, "00741048")
    assert values(comment, "00000902") == [
        "DICOM100: (0018,0015) - Dicom element 'BodyPartExamined' failed validation for VR "
        "'CS': Value length exceeds maximum length of 16."]


def test_reindex_failing_three_times_fails_operation_and_frees_tag(make_app, monkeypatch):
    from app.services import extended_query_tag_reindex, operations
    from app.services.operation_runs import Runner

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(operations.RUNNERS, "reindex",
                        Runner(broken, extended_query_tag_reindex.release_tags))
    app = make_app()
    client = app.test_client()
    operation_id = _add_tags(client, {"path": "PatientAge", "level": "Study"})
    assert run_pending_once(app) == 3  # retried at once, then given up
    operation = client.get(f"/operations/{operation_id}")
    assert operation.status_code == 200
    assert operation.json["status"] == "failed"
    tag = client.get("/extendedquerytags/PatientAge").json
    assert tag["status"] == "adding" and "operation" not in tag
    assert client.delete("/extendedquerytags/PatientAge").status_code == 204
    assert _add_tags(client, {"path": "PatientAge", "level": "Study"})  # no active re-index


def test_delete_study_removes_its_extended_query_tag_values_and_errors(make_app):
    app = make_app()
    client = app.test_client()
    bad, good = make_dataset(PatientAge="5Y"), _dataset()
    assert store(client, "", bad, good, prefix="/v1").status_code == 200
    _add_tags(client, {"path": "PatientAge", "level": "Study"},
              {"path": "AcquisitionNumber", "level": "Instance"})
    run_pending_once(app)
    assert client.get("/extendedquerytags/PatientAge").json["errors"]["count"] == 1
    assert client.delete(f"/studies/{bad.StudyInstanceUID}").status_code == 204
    assert client.delete(f"/studies/{good.StudyInstanceUID}").status_code == 204
    assert "errors" not in client.get("/extendedquerytags/PatientAge").json
    for table in ("string", "long"):
        assert _rows(app, f"SELECT count(*) FROM extended_query_tag_{table}") == [(0,)]
    assert client.get("/extendedquerytags/PatientAge/errors").json == []


def test_add_extended_query_tags_waits_for_stores_in_flight(make_app):
    from app.dao import extended_query_tags as extended_query_tags_dao

    app = make_app()
    results = []
    with get_database(app).connection() as store_conn:
        with store_conn.transaction(write=True):
            extended_query_tags_dao.lock_tags_shared(store_conn)  # what a store transaction holds
            thread = threading.Thread(target=lambda: results.append(
                app.test_client().post("/extendedquerytags", json=[
                    {"path": "PatientAge", "level": "Study"}]).status_code))
            thread.start()
            thread.join(0.5)
            assert results == []  # the add waits for the store to commit
        thread.join(10)
    assert results == [202]


@pytest.mark.parametrize("prefix,warning", [("/v1", True), ("/v2", False)])
def test_store_multi_valued_indexed_tag_warning_header_v1_only(make_app, prefix, warning):
    app = make_app()
    client = app.test_client()
    _add_tags(client, {"path": "OtherPatientIDs", "level": "Study"})
    response = store(client, "", make_dataset(OtherPatientIDs=["A1", "B2"]), prefix=prefix)
    assert response.status_code == 200
    assert ("Warning" in response.headers) is warning
    if warning:
        assert response.headers["Warning"] == (
            '299 localhost: "One or more indexed Dicom tag(s) have multiple values, only first '
            'value is indexed."')
    assert _rows(app, "SELECT tag_value FROM extended_query_tag_string") == [("A1",)]


def test_reindex_batch_racing_a_delete_leaves_no_rows_for_the_deleted_instance(make_app,
                                                                            monkeypatch):
    """The batch is read, then the instance is deleted before the batch is written."""
    from app.dao import extended_query_tags as extended_query_tags_dao

    app = make_app()
    client = app.test_client()
    bad, good = make_dataset(PatientAge="5Y"), _dataset()
    assert store(client, "", bad, good, prefix="/v1").status_code == 200
    _add_tags(client, {"path": "PatientAge", "level": "Study"})
    real = extended_query_tags_dao.list_instances_to_reindex

    def read_then_delete(conn, after, size):
        rows = real(conn, after, size)
        if rows:
            path = f"/studies/{bad.StudyInstanceUID}"
            assert app.test_client().delete(path).status_code == 204
        return rows

    monkeypatch.setattr(extended_query_tags_dao, "list_instances_to_reindex", read_then_delete)
    run_pending_once(app)
    tag = client.get("/extendedquerytags/PatientAge").json
    assert tag["status"] == "ready" and tag["queryStatus"] == "enabled"
    assert "errors" not in tag
    assert _rows(app, "SELECT count(*) FROM extended_query_tag_errors") == [(0,)]
    assert _rows(app, "SELECT count(*) FROM extended_query_tag_string") == [(1,)]


def test_store_validates_by_the_tag_list_another_process_changed(make_app):
    """Each process caches the indexable tags. Tags changed by another process (here another
    app on the same database) take effect for validation at once: a deleted tag no longer
    rejects, an added one validates the next store (its transaction sees the change and has
    the instance validated again)."""
    this, other = make_app(), make_app()
    client, other_client = this.test_client(), other.test_client()
    _add_tags(other_client, {"path": "PatientAge", "level": "Study"})
    assert store(client, "", make_dataset(PatientAge="005Y"), prefix="/v1").status_code == 200
    assert run_pending_once(other) == 1  # the re-index completes: the tag can be deleted
    assert other_client.delete("/extendedquerytags/PatientAge").status_code == 204
    response = store(client, "", make_dataset(PatientAge="5Y"), prefix="/v1")
    assert response.status_code == 200, response.data  # not rejected by the deleted tag

    _add_tags(other_client, {"path": "PatientAge", "level": "Study"})
    response = store(client, "", make_dataset(PatientAge="5Y"), prefix="/v1")
    assert response.status_code == 409  # the added tag validates this process's stores

    def re_add():  # delete and add the tag again through the other app
        assert run_pending_once(other) == 1
        assert other_client.delete("/extendedquerytags/PatientAge").status_code == 204
        assert store(client, "", make_dataset(PatientAge="5Y"), prefix="/v1").status_code == 200
        _add_tags(other_client, {"path": "PatientAge", "level": "Study"})

    re_add()  # v2: a warning by the added tag
    response = store(client, "", make_dataset(PatientAge="5Y"), prefix="/v2")
    assert response.status_code == 202
    [item] = values(response.json, "00081199")
    assert "PatientAge" in str(values(item, "00741048"))
    re_add()  # stored together (a batch): the same, per part
    response = store(client, "", make_dataset(PatientAge="5Y"), make_dataset(PatientAge="005Y"),
                     prefix="/v1")
    assert response.status_code == 202
    assert len(values(response.json, "00081198")) == len(values(response.json, "00081199")) == 1

"""Partition statistics with bulk-updated instances (issues #19 and #20): an updated instance
holds its original file and its current one, and both count (sql/schema/common/0150 and
sql/schema/*/0151). Expected numbers come from the files the server hands back (WADO-RS,
current and original), never from constants."""
from __future__ import annotations

import pytest

from app.api.edge import get_database
from app.db.migrate import SCHEMA_ROOT, split_statements
from app.worker import run_pending_once
from tests.api.helpers import store
from tests.dicom_factory import make_dataset, uid

BULK_UPDATE = "/v2{}/studies/$bulkUpdate"
ANY_SYNTAX = "application/dicom; transfer-syntax=*"
ZERO = {"studies": 0, "series": 0, "instances": 0, "bytesStored": 0, "bytesOnDisk": 0}


def _name(value: str) -> dict:
    return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": value}]}}


class Site:
    """One partition seen through the API: ``base`` its routes (``''`` with partitions off),
    ``name`` the partition whose statistics ``admin`` (an app with partitions on, on the same
    database) reads."""

    def __init__(self, app, admin, base: str, name: str):
        self.app, self.client, self.admin = app, app.test_client(), admin.test_client()
        self.base, self.name = base, name
        self.datasets: list = []
        self.updated: set[str] = set()  # SOP instance UIDs

    def store(self, *datasets) -> None:
        response = store(self.client, self.base, *datasets)
        assert response.status_code == 200, response.get_data(as_text=True)
        self.datasets += datasets

    def update(self, studies: list[str], change: dict) -> None:
        response = self.client.post(BULK_UPDATE.format(self.base), json={
            "studyInstanceUids": studies, "changeDataset": change})
        assert response.status_code == 202, response.get_data(as_text=True)
        assert run_pending_once(self.app) >= 1
        operation = self.client.get(f"/v2/operations/{response.json['id']}").json
        assert operation["status"] == "succeeded", operation
        self.updated |= {ds.SOPInstanceUID for ds in self.datasets
                         if ds.StudyInstanceUID in studies}

    def delete_instance(self, ds) -> None:
        url = (f"{self.base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
               f"/instances/{ds.SOPInstanceUID}")
        assert self.client.delete(url).status_code == 204
        self.datasets.remove(ds)

    def delete_study(self, study: str) -> None:
        assert self.client.delete(f"{self.base}/studies/{study}").status_code == 204
        self.datasets = [ds for ds in self.datasets if ds.StudyInstanceUID != study]

    def files(self, ds) -> list[bytes]:
        """The instance's files: its current one and, once updated, its original."""
        url = (f"{self.base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
               f"/instances/{ds.SOPInstanceUID}")
        current = self.client.get(url, headers={"Accept": ANY_SYNTAX})
        original = self.client.get(url, headers={"Accept": ANY_SYNTAX,
                                                 "msdicom-request-original": "true"})
        assert current.status_code == original.status_code == 200
        if ds.SOPInstanceUID not in self.updated:
            assert original.data == current.data
            return [current.data]
        return [current.data, original.data]

    def statistics(self) -> dict:
        response = self.admin.get(f"/partitions/{self.name}")
        assert response.status_code == 200, response.get_data(as_text=True)
        found = dict(response.json["statistics"])
        del found["lastStoredTime"]
        return found

    def expected(self) -> dict:
        """What the statistics must say about the instances stored and not deleted."""
        files = [self.files(ds) for ds in self.datasets]
        return {"studies": len({ds.StudyInstanceUID for ds in self.datasets}),
                "series": len({ds.SeriesInstanceUID for ds in self.datasets}),
                "instances": len(self.datasets),
                "bytesStored": sum(len(f) for held in files for f in held),
                "bytesOnDisk": sum(len(f) for f in {f for held in files for f in held})}


@pytest.fixture
def site(make_app, partition_mode) -> Site:
    """The test's partition: SiteA, or Microsoft.Default written with partitions off (its
    statistics read through a second app with them on)."""
    if partition_mode == "partitioned":
        app = make_app(ENABLE_DATA_PARTITIONS=True)
        return Site(app, app, "/partitions/SiteA", "SiteA")
    return Site(make_app(), make_app(ENABLE_DATA_PARTITIONS=True), "", "Microsoft.Default")


def test_statistics_count_both_files_of_updated_instances_until_they_are_deleted(site):
    study, series = uid(), uid()
    first, second, third = (make_dataset(study, series), make_dataset(study, series),
                            make_dataset(study, uid()))
    other = make_dataset()
    site.store(first, second, third, other)
    stored = site.statistics()
    assert stored == site.expected()
    site.update([study], _name("Updated^Jane"))
    updated = site.statistics()
    assert updated == site.expected()
    new_files = sum(len(site.files(ds)[0]) for ds in (first, second, third))
    assert updated["bytesStored"] == stored["bytesStored"] + new_files
    assert updated["bytesOnDisk"] == stored["bytesOnDisk"] + new_files
    # A second update replaces the current files; the originals stay.
    site.update([study], {"00081030": {"vr": "LO", "Value": ["Second"]}})
    assert site.statistics() == site.expected()
    site.delete_instance(second)
    assert site.statistics() == site.expected()
    site.delete_study(study)
    assert site.statistics() == site.expected()
    assert site.statistics()["bytesStored"] == len(site.files(other)[0])
    site.delete_study(other.StudyInstanceUID)
    assert site.statistics() == ZERO


def test_an_update_back_to_the_stored_bytes_counts_the_shared_file_once_on_disk(site):
    """Updating the name and then back gives the stored bytes again: the instance's current
    and original file are one file, stored twice and on disk once."""
    ds = make_dataset(PatientName="Doe^John")
    site.store(ds)
    site.update([ds.StudyInstanceUID], _name("Updated^Jane"))
    site.update([ds.StudyInstanceUID], _name("Doe^John"))
    current, original = site.files(ds)
    assert current == original
    assert site.statistics() == site.expected() == {
        "studies": 1, "series": 1, "instances": 1, "bytesStored": 2 * len(current),
        "bytesOnDisk": len(current)}
    site.delete_study(ds.StudyInstanceUID)
    assert site.statistics() == ZERO


def test_files_shared_with_another_partition_count_in_both_and_leave_with_their_partition(
        make_app):
    """The same stored bytes updated the same way in two partitions are the same two files:
    each partition counts both; deleting a study, then the whole partition (the
    deletePartition operation), leaves the other partition's numbers as they were."""
    app = make_app(ENABLE_DATA_PARTITIONS=True)
    site_a = Site(app, app, "/partitions/SiteA", "SiteA")
    site_b = Site(app, app, "/partitions/SiteB", "SiteB")
    shared, own = make_dataset(), make_dataset()
    site_a.store(shared, own)
    site_b.store(shared)
    for site in (site_a, site_b):
        site.update([shared.StudyInstanceUID], _name("Updated^Jane"))
    assert site_a.files(shared) == site_b.files(shared)
    assert site_a.statistics() == site_a.expected()
    in_b = site_b.statistics()
    assert in_b == site_b.expected()
    site_a.update([own.StudyInstanceUID, shared.StudyInstanceUID], _name("Other^Name"))
    assert site_a.statistics() == site_a.expected()
    site_a.delete_study(shared.StudyInstanceUID)
    assert site_a.statistics() == site_a.expected()
    assert site_b.statistics() == in_b
    response = site_a.client.delete("/partitions/SiteA")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert run_pending_once(app) == 1
    assert site_a.client.get(f"/operations/{response.json['id']}").json["status"] == "succeeded"
    assert site_a.client.get("/partitions/SiteA").status_code == 400
    assert site_b.statistics() == in_b == site_b.expected()
    site_b.delete_study(shared.StudyInstanceUID)
    assert site_b.statistics() == ZERO


def test_migration_0150_recounts_the_bytes_of_instances_updated_before_it(site):
    """Counters left wrong (as 0080's triggers left them after a bulk update, or anyhow) are
    recounted by the migration's statements (all but its index and view)."""
    ds = make_dataset()
    site.store(ds, make_dataset())
    site.update([ds.StudyInstanceUID], _name("Updated^Jane"))
    script = next((SCHEMA_ROOT / "common").glob("0150_*.sql")).read_text(encoding="utf-8")
    recount = [s for s in split_statements(script) if "CREATE " not in s]
    with get_database(site.app).connection() as conn, conn.transaction(write=True):
        conn.execute("UPDATE partition_statistics SET stored_bytes = 1, disk_bytes = 1")
        conn.execute("INSERT INTO partition_statistics (partition_key, slot, stored_bytes,"
                     " disk_bytes) SELECT partition_key, 7, 5, 5 FROM partitions"
                     " WHERE partition_key NOT IN (SELECT partition_key"
                     " FROM partition_statistics WHERE slot = 7)")
        for statement in recount:
            conn.execute(statement)
    assert site.statistics() == site.expected()

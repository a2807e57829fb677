"""The collection's partition administration folder (issue #20): statistics, quota, rename and
delete of a partition of its own (``PostmanAdmin``), each request checked in both partition
modes (with partitions off every one answers 400 "Data partitions feature is disabled.")."""
from __future__ import annotations

from typing import Callable

ADMIN = "{{baseUrl}}/partitions/PostmanAdmin"
RENAMED = "{{baseUrl}}/partitions/PostmanAdmin-Renamed"
OFF = 'pm.test("feature off: 400", () => pm.response.to.have.status(400));'


def partition_admin_folder(request: Callable[..., dict], partition_on: str,
                           json_body: Callable[[object], dict],
                           file_body: Callable[[str], dict]) -> list[dict]:
    def when_on(*tests: str) -> list[str]:
        return [f"const on = {partition_on};", "if (!on) {", OFF, "} else {", *tests, "}"]

    return [
        request("Store into a partition to administer", "POST", f"{ADMIN}/studies", when_on(
            'pm.test("status 200", () => pm.response.to.have.status(200));'),
            {"Content-Type": "application/dicom", "Accept": "application/dicom+json"},
            file_body("instance1.dcm")),
        request("Get the partition with its statistics", "GET", ADMIN, when_on(
            'pm.test("status 200", () => pm.response.to.have.status(200));',
            'const s = pm.response.json().statistics;',
            'pm.test("one instance", () => pm.expect([s.studies, s.series, s.instances]).to.eql([1, 1, 1]));',
            'pm.test("bytes", () => pm.expect(s.bytesStored).to.eql(s.bytesOnDisk).and.above(0));')),
        request("List partitions with statistics", "GET",
                "{{baseUrl}}/partitions?includeStatistics=true", when_on(
                    'pm.test("status 200", () => pm.response.to.have.status(200));',
                    'pm.test("statistics on every item", () => pm.expect(pm.response.json().every(p => p.statistics)).to.be.true);')),
        request("Set a quota of one instance", "PATCH", ADMIN, when_on(
            'pm.test("status 200", () => pm.response.to.have.status(200));',
            'pm.test("quota", () => pm.expect(pm.response.json().quota).to.eql({maxInstances: 1, maxBytes: null}));'),
            {"Content-Type": "application/json"}, json_body({"quota": {"maxInstances": 1}})),
        request("A store beyond the quota: 409 with FailureReason 42752", "POST",
                f"{ADMIN}/studies", when_on(
                    'pm.test("status 409", () => pm.response.to.have.status(409));',
                    'const failed = pm.response.json()["00081198"].Value;',
                    'pm.test("42752 for every part", () => pm.expect(failed.map(f => f["00081197"].Value[0])).to.eql([42752, 42752]));'),
                {"Content-Type": 'multipart/related; type="application/dicom"; '
                                 'boundary=DICOMwebPostmanBoundary',
                 "Accept": "application/dicom+json"}, file_body("instances2and3.multipart")),
        request("Rename the partition", "PATCH", ADMIN, when_on(
            'pm.test("status 200", () => pm.response.to.have.status(200));',
            'pm.test("new name", () => pm.expect(pm.response.json().partitionName).to.eql("PostmanAdmin-Renamed"));'),
            {"Content-Type": "application/json"},
            json_body({"partitionName": "PostmanAdmin-Renamed"})),
        request("The old name is unknown: 400", "GET", ADMIN, [
            'pm.test("status 400", () => pm.response.to.have.status(400));',
            f"const on = {partition_on};",
            'if (on) { pm.test("text", () => pm.expect(pm.response.text()).to.eql("Specified PartitionName does not exist.")); }']),
        request("Microsoft.Default cannot be deleted: 400", "DELETE",
                "{{baseUrl}}/partitions/Microsoft.Default", [
                    'pm.test("status 400", () => pm.response.to.have.status(400));',
                    f"const on = {partition_on};",
                    'if (on) { pm.test("text", () => pm.expect(pm.response.text()).to.eql("The default partition \'Microsoft.Default\' cannot be deleted.")); }']),
        request("Delete the partition: 202 with the operation", "DELETE", RENAMED, when_on(
            'pm.test("status 202", () => pm.response.to.have.status(202));',
            'pm.test("Location is the href", () => pm.expect(pm.response.headers.get("Location")).to.eql(pm.response.json().href));',
            'pm.collectionVariables.set("deletionId", pm.response.json().id);',
            'pm.collectionVariables.set("deletionPolls", "0");')),
        request("Get the deletion (polls until done)", "GET",
                "{{baseUrl}}/operations/{{deletionId}}", [
                    f"const on = {partition_on};",
                    'const polls = Number(pm.collectionVariables.get("deletionPolls") || 0);',
                    'if (!on) {',
                    '  pm.test("no operation: 404", () => pm.response.to.have.status(404));',
                    '} else if (pm.response.code === 202 && polls < 60) {',
                    '  pm.collectionVariables.set("deletionPolls", String(polls + 1));',
                    '  setTimeout(() => {}, 250);',
                    '  postman.setNextRequest(pm.info.requestName);',
                    '} else {',
                    '  pm.test("status 200", () => pm.response.to.have.status(200));',
                    '  const op = pm.response.json();',
                    '  pm.test("a deletePartition", () => pm.expect(op.type).to.eql("deletePartition"));',
                    '  pm.test("succeeded", () => pm.expect(op.status).to.be.oneOf(["succeeded", "completed"]));',
                    '}']),
        request("The deleted partition is unknown: 400", "GET", RENAMED, [
            'pm.test("status 400", () => pm.response.to.have.status(400));']),
    ]

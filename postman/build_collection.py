"""Build the Postman collections (v2.1) from this readable description.

Run: ``.venv/bin/python -m postman.build_collection``; the JSON files are committed so users can
import them without Python. Every request carries tests for its status and key fields.
"""
from __future__ import annotations

import json
from pathlib import Path

from postman.make_data import SERIES_1, SERIES_2, SOP_1, SOP_2, SOP_3, STUDY
from postman.partitions_admin import partition_admin_folder
from postman.workitems import reference_style_workitems, workitems_folder

HERE = Path(__file__).parent
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
P = "{{baseUrl}}{{partitionPrefix}}"
STUDY_URL = f"{P}/studies/{{{{studyUid}}}}"
SERIES_URL = f"{STUDY_URL}/series/{{{{series1Uid}}}}"
INSTANCE_URL = f"{SERIES_URL}/instances/{{{{sop1Uid}}}}"
DICOM_JSON = "application/dicom+json"
MULTIPART_DICOM = 'multipart/related; type="application/dicom"; boundary=DICOMwebPostmanBoundary'


def status_test(*codes: int) -> str:
    if len(codes) == 1:
        return f'pm.test("status {codes[0]}", () => pm.response.to.have.status({codes[0]}));'
    return (f'pm.test("status in {list(codes)}", () => '
            f'pm.expect({list(codes)}).to.include(pm.response.code));')


def header_test(name: str, fragment: str) -> str:
    return (f'pm.test("{name} has {fragment}", () => pm.expect('
            f'pm.response.headers.get("{name}") || "").to.include("{fragment}"));')


def request(name: str, method: str, url: str, tests: list[str], headers: dict[str, str] | None
            = None, body: dict | None = None, prerequest: list[str] | None = None) -> dict:
    item: dict = {
        "name": name,
        "request": {
            "method": method,
            "header": [{"key": k, "value": v} for k, v in (headers or {}).items()],
            "url": url,
        },
        "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}],
    }
    if prerequest:
        item["event"].append({"listen": "prerequest",
                              "script": {"type": "text/javascript", "exec": prerequest}})
    if body is not None:
        item["request"]["body"] = body
    return item


def file_body(name: str) -> dict:
    return {"mode": "file", "file": {"src": name}}


def json_body(value: object) -> dict:
    return {"mode": "raw", "raw": json.dumps(value, indent=2),
            "options": {"raw": {"language": "json"}}}


#: Every request sends ``Authorization: Bearer {{token}}`` when the ``token`` variable is set
#: (Postman sends no header for an empty token): a server with DICOM_SECURITY_ENABLED=true.
BEARER_AUTH = {"type": "bearer",
               "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]}


def poll_operation(finished: list[str], counter: str = "operationPolls") -> list[str]:
    """Tests of an operation request that repeats itself (up to 60 times, 250 ms apart, counted
    in the collection variable ``counter``) while the operation runs, then expects 200 and
    runs the ``finished`` tests."""
    return [
        f'const polls = Number(pm.collectionVariables.get("{counter}") || 0);',
        'if (pm.response.code === 202 && polls < 60) {',
        f'  pm.collectionVariables.set("{counter}", String(polls + 1));',
        '  setTimeout(() => {}, 250);',
        '  postman.setNextRequest(pm.info.requestName);',
        '} else {',
        status_test(200),
        *finished,
        '}',
    ]


def folder(name: str, items: list[dict]) -> dict:
    return {"name": name, "item": items}


PARTITION_ON = 'pm.environment.get("partitionsEnabled") === "true" || pm.collectionVariables.get("partitionsEnabled") === "true"'


def collection() -> dict:
    setup = folder("0. Health and partitions", [
        request("Health check", "GET", "{{baseUrl}}/health/check", [
            status_test(200),
            'pm.test("healthy", () => pm.expect(pm.response.json().overallStatus).to.eql("Healthy"));',
        ]),
        request("List partitions", "GET", "{{baseUrl}}/partitions", [
            f"const on = {PARTITION_ON};",
            'pm.test("status matches the partition mode", () => pm.response.to.have.status(on ? 200 : 400));',
            'if (!on) { pm.test("disabled text", () => pm.expect(pm.response.text()).to.eql("Data partitions feature is disabled.")); }',
            'else { pm.test("default partition listed", () => pm.expect(pm.response.json().map(p => p.partitionName)).to.include("Microsoft.Default")); }',
        ]),
        # 400: the partition does not exist yet on a fresh server.
        request("Clean up: delete the test study (204, 404 or 400)", "DELETE", STUDY_URL,
                [status_test(204, 404, 400)]),
    ])
    stow = folder("1. STOW-RS", [
        request("Store one instance (application/dicom)", "POST", f"{P}/studies", [
            status_test(200),
            header_test("Content-Type", DICOM_JSON),
            'const refs = pm.response.json()["00081199"].Value;',
            'pm.test("one referenced instance", () => pm.expect(refs.length).to.eql(1));',
            'pm.test("retrieve URL is absolute", () => pm.expect(refs[0]["00081190"].Value[0]).to.match(/^http/));',
        ], {"Content-Type": "application/dicom", "Accept": DICOM_JSON}, file_body("instance1.dcm")),
        request("Store two instances into the study (multipart/related)", "POST", STUDY_URL, [
            status_test(200),
            'const body = pm.response.json();',
            'pm.test("two referenced instances", () => pm.expect(body["00081199"].Value.length).to.eql(2));',
            'pm.test("study retrieve URL", () => pm.expect(body["00081190"].Value[0]).to.include(pm.collectionVariables.get("studyUid")));',
        ], {"Content-Type": MULTIPART_DICOM, "Accept": DICOM_JSON},
            file_body("instances2and3.multipart")),
        request("Store a duplicate: 409 with FailureReason 45070", "POST", f"{P}/studies", [
            status_test(409),
            'pm.test("failure reason 45070", () => pm.expect(pm.response.json()["00081198"].Value[0]["00081197"].Value[0]).to.eql(45070));',
        ], {"Content-Type": "application/dicom"}, file_body("instance1.dcm")),
    ])
    wado = folder("2. WADO-RS", [
        request("Retrieve study (multipart, stored transfer syntax)", "GET", STUDY_URL, [
            status_test(200), header_test("Content-Type", "multipart/related"),
        ], {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}),
        request("Retrieve series", "GET", SERIES_URL, [
            status_test(200), header_test("Content-Type", "multipart/related"),
        ], {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}),
        request("Retrieve instance (single part)", "GET", INSTANCE_URL, [
            status_test(200), header_test("Content-Type", "application/dicom"),
            'pm.test("DICM magic", () => pm.expect(pm.response.stream.slice(128, 132).toString()).to.eql("DICM"));',
        ], {"Accept": "application/dicom; transfer-syntax=*"}),
        request("Retrieve study metadata", "GET", f"{STUDY_URL}/metadata", [
            status_test(200), header_test("Content-Type", DICOM_JSON),
            'pm.test("three instances", () => pm.expect(pm.response.json().length).to.eql(3));',
            'pm.test("ETag", () => pm.expect(pm.response.headers.get("ETag")).to.be.a("string"));',
        ], {"Accept": DICOM_JSON}),
        request("Retrieve series metadata", "GET", f"{SERIES_URL}/metadata", [
            status_test(200),
            'pm.test("two instances", () => pm.expect(pm.response.json().length).to.eql(2));',
        ], {"Accept": DICOM_JSON}),
        request("Retrieve instance metadata", "GET", f"{INSTANCE_URL}/metadata", [
            status_test(200),
            'const ds = pm.response.json()[0];',
            'pm.test("SOP Instance UID", () => pm.expect(ds["00080018"].Value[0]).to.eql(pm.collectionVariables.get("sop1Uid")));',
            'pm.test("pixel data as BulkDataURI", () => pm.expect(ds["7FE00010"].BulkDataURI).to.match(/^http/));',
            'pm.collectionVariables.set("pixelDataUri", ds["7FE00010"].BulkDataURI);',
        ], {"Accept": DICOM_JSON}),
        request("Retrieve bulk data (pixel data)", "GET", "{{pixelDataUri}}", [
            status_test(200),
        ], {"Accept": "*/*"}),
        request("Retrieve frames 1 and 3", "GET", f"{INSTANCE_URL}/frames/1,3", [
            status_test(200), header_test("Content-Type", "multipart/related"),
        ], {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}),
        request("Render instance as PNG", "GET", f"{INSTANCE_URL}/rendered", [
            status_test(200), header_test("Content-Type", "image/png"),
        ], {"Accept": "image/png"}),
        request("Render frame 2 as JPEG", "GET", f"{INSTANCE_URL}/frames/2/rendered?quality=90", [
            status_test(200), header_test("Content-Type", "image/jpeg"),
        ], {"Accept": "image/jpeg"}),
        request("Unknown instance: 404", "GET", f"{SERIES_URL}/instances/1.2.3.4.5", [
            status_test(404),
            'pm.test("text", () => pm.expect(pm.response.text()).to.eql("The specified instance cannot be found."));',
        ], {"Accept": "application/dicom; transfer-syntax=*"}),
    ])
    qido = folder("3. QIDO-RS", [
        request("Search studies by PatientID", "GET", f"{P}/studies?PatientID=POSTMAN-1", [
            status_test(200), header_test("Content-Type", DICOM_JSON),
            'pm.test("our study", () => pm.expect(pm.response.json().map(s => s["0020000D"].Value[0])).to.include(pm.collectionVariables.get("studyUid")));',
        ], {"Accept": DICOM_JSON}),
        request("Search studies by date range and name wildcard", "GET",
                f"{P}/studies?StudyDate=20240101-20241231&PatientName=Postman*&includefield=NumberOfStudyRelatedInstances",
                [status_test(200),
                 'const s = pm.response.json().find(x => x["0020000D"].Value[0] === pm.collectionVariables.get("studyUid"));',
                 'pm.test("found with 3 instances", () => pm.expect(s["00201208"].Value[0]).to.eql(3));'],
                {"Accept": DICOM_JSON}),
        request("Search series by modality", "GET", f"{P}/series?Modality=MR", [
            status_test(200),
            'pm.test("MR series", () => pm.expect(pm.response.json().map(s => s["0020000E"].Value[0])).to.include(pm.collectionVariables.get("series2Uid")));',
        ], {"Accept": DICOM_JSON}),
        request("Search instances by SOPInstanceUID", "GET", f"{P}/instances?SOPInstanceUID={{{{sop2Uid}}}}", [
            status_test(200),
            'pm.test("one instance", () => pm.expect(pm.response.json().length).to.eql(1));',
        ], {"Accept": DICOM_JSON}),
        request("Search series of a study", "GET", f"{STUDY_URL}/series", [
            status_test(200),
            'pm.test("two series", () => pm.expect(pm.response.json().length).to.eql(2));',
        ], {"Accept": DICOM_JSON}),
        request("Search instances of a study", "GET", f"{STUDY_URL}/instances", [
            status_test(200),
            'pm.test("three instances", () => pm.expect(pm.response.json().length).to.eql(3));',
        ], {"Accept": DICOM_JSON}),
        request("Search instances of a series", "GET", f"{SERIES_URL}/instances?limit=1&offset=0", [
            status_test(200),
            'pm.test("paged to one", () => pm.expect(pm.response.json().length).to.eql(1));',
        ], {"Accept": DICOM_JSON}),
        request("Search every partition for the study (partitions on; 400 off)", "GET",
                "{{baseUrl}}/partitions/*/studies?StudyInstanceUID={{studyUid}}", [
            f"const on = {PARTITION_ON};",
            'pm.test("status matches the partition mode", () => pm.response.to.have.status(on ? 200 : 400));',
            'if (!on) { pm.test("disabled text", () => pm.expect(pm.response.text()).to.eql("Data partitions feature is disabled.")); }',
            'else {',
            '  const mine = pm.response.json().find(s => s["00091001"].Value[0] === pm.variables.get("partitionName"));',
            '  pm.test("found in its partition", () => pm.expect(mine).to.be.an("object"));',
            '  pm.test("private creator", () => pm.expect(mine["00090010"].Value[0]).to.eql("DICOMWEB PARTITION"));',
            '  pm.test("RetrieveURL into the partition", () => pm.expect(mine["00081190"].Value[0]).to.include("/partitions/" + pm.variables.get("partitionName") + "/studies/" + pm.collectionVariables.get("studyUid")));',
            '}',
        ], {"Accept": DICOM_JSON}),
        request("Search with an unknown attribute: 400", "GET", f"{P}/studies?NotAKeyword=1", [
            status_test(400),
            'pm.test("reference text", () => pm.expect(pm.response.text()).to.include("unknown query parameter"));',
        ], {"Accept": DICOM_JSON}),
        request("Search that matches nothing: 204", "GET", f"{P}/studies?PatientID=NOBODY-XYZ", [
            status_test(204),
        ], {"Accept": DICOM_JSON}),
    ])
    change_feed = folder("4. Change feed", [
        request("Change feed (v2 window)", "GET",
                "{{baseUrl}}/changefeed?startTime=2000-01-01T00:00:00Z&limit=200&includeMetadata=false", [
                    status_test(200),
                    'const entries = pm.response.json();',
                    'pm.test("has Create entries", () => pm.expect(entries.map(e => e.action)).to.include("Create"));',
                    'pm.test("partitionName on entries", () => pm.expect(entries[0]).to.have.property("partitionName"));',
                ]),
        request("Change feed latest", "GET", "{{baseUrl}}/changefeed/latest", [
            status_test(200),
            'pm.test("sequence", () => pm.expect(pm.response.json().sequence).to.be.a("number"));',
        ]),
        request("Change feed (v1 offsets)", "GET", "{{serverUrl}}/v1/changefeed?offset=0&limit=10", [
            status_test(200),
            'pm.test("at most 10", () => pm.expect(pm.response.json().length).to.be.at.most(10));',
        ]),
        request("Change feed bad limit: 400", "GET", "{{baseUrl}}/changefeed?limit=0", [
            status_test(400)]),
    ])
    extended_query_tags = folder("5. Extended query tags and operations", [
        request("Clean up: delete the tag (204 or 404)", "DELETE",
                "{{baseUrl}}/extendedquerytags/0008103E", [status_test(204, 404)]),
        request("Add an extended query tag", "POST", "{{baseUrl}}/extendedquerytags", [
            status_test(202),
            'pm.test("operation id", () => pm.expect(pm.response.json().id).to.match(/^[0-9a-f]{32}$/));',
            'pm.test("Location header", () => pm.expect(pm.response.headers.get("Location")).to.include("/operations/"));',
            'pm.collectionVariables.set("operationId", pm.response.json().id);',
            'pm.collectionVariables.set("operationPolls", "0");',
        ], {"Content-Type": "application/json"},
            json_body([{"path": "0008103E", "vr": "LO", "level": "Series"}])),
        request("Get the operation (polls until done)", "GET",
                "{{baseUrl}}/operations/{{operationId}}", poll_operation([
                    '  pm.test("succeeded", () => pm.expect(pm.response.json().status).to.be.oneOf(["succeeded", "completed"]));',
                ])),
        request("List extended query tags", "GET", "{{baseUrl}}/extendedquerytags", [
            status_test(200),
            'pm.test("tag listed", () => pm.expect(pm.response.json().map(t => t.path)).to.include("0008103E"));',
        ]),
        request("Get the extended query tag", "GET", "{{baseUrl}}/extendedquerytags/0008103E", [
            status_test(200),
            'pm.test("ready", () => pm.expect(pm.response.json().status).to.eql("ready"));',
        ]),
        request("Get the tag's errors", "GET", "{{baseUrl}}/extendedquerytags/0008103E/errors", [
            status_test(200)]),
        request("Search series by the new tag", "GET",
                f"{P}/series?SeriesDescription=Postman%20series", [
                    status_test(200),
                    'pm.test("both series found", () => pm.expect(pm.response.json().length).to.eql(2));',
                ], {"Accept": DICOM_JSON}),
        request("Disable querying the tag", "PATCH", "{{baseUrl}}/extendedquerytags/0008103E", [
            status_test(200),
            'pm.test("disabled", () => pm.expect(pm.response.json().queryStatus).to.eql("disabled"));',
        ], {"Content-Type": "application/json"}, json_body({"queryStatus": "Disabled"})),
        request("Enable querying the tag", "PATCH", "{{baseUrl}}/extendedquerytags/0008103E", [
            status_test(200)], {"Content-Type": "application/json"},
            json_body({"queryStatus": "Enabled"})),
        request("Delete the extended query tag", "DELETE",
                "{{baseUrl}}/extendedquerytags/0008103E", [status_test(204)]),
        request("Unknown operation: 404", "GET",
                "{{baseUrl}}/operations/00000000000000000000000000000000", [status_test(404)]),
    ])
    export = folder("6. Export", [
        request("Export the study and a missing series to a folder", "POST", f"{P}/export", [
            status_test(202),
            'pm.test("operation id", () => pm.expect(pm.response.json().id).to.match(/^[0-9a-f]{32}$/));',
            'pm.test("Location is the href", () => pm.expect(pm.response.headers.get("Location")).to.eql(pm.response.json().href));',
            'pm.collectionVariables.set("exportId", pm.response.json().id);',
            'pm.collectionVariables.set("exportPolls", "0");',
        ], {"Content-Type": "application/json"}, json_body({
            "source": {"type": "identifiers", "settings": {
                "values": ["{{studyUid}}", "{{studyUid}}/1.2.826.0.1.3680043.10.543.999"]}},
            "destination": {"type": "filesystem", "settings": {"path": "postman"}}})),
        request("Get the export (polls until done)", "GET", "{{baseUrl}}/operations/{{exportId}}", poll_operation([
            '  const op = pm.response.json();',
            '  pm.test("an export", () => pm.expect(op.type).to.eql("export"));',
            '  pm.test("succeeded", () => pm.expect(op.status).to.be.oneOf(["succeeded", "completed"]));',
            '  pm.test("3 exported, 1 skipped", () => pm.expect([op.results.exported, op.results.skipped]).to.eql([3, 1]));',
            '  pm.test("errors log", () => pm.expect(op.results.errorHref).to.match(/^file:.*errors\.log$/));',
        ], "exportPolls")),
        request("Export a bad identifier: 400", "POST", f"{P}/export", [
            status_test(400),
            'pm.test("text", () => pm.expect(pm.response.text()).to.eql("The string \'1.2/x\' was not recognized as a valid DICOM identifier."));',
        ], {"Content-Type": "application/json"}, json_body({
            "source": {"type": "identifiers", "settings": {"values": ["1.2/x"]}},
            "destination": {"type": "filesystem", "settings": {}}})),
        request("Export outside the export root: 400", "POST", f"{P}/export", [
            status_test(400),
            'pm.test("text", () => pm.expect(pm.response.text()).to.eql("The export path \'../up\' must not contain \'..\'."));',
        ], {"Content-Type": "application/json"}, json_body({
            "source": {"type": "identifiers", "settings": {"values": ["{{studyUid}}"]}},
            "destination": {"type": "filesystem", "settings": {"path": "../up"}}})),
    ])
    bulk_update = folder("6b. Bulk update (v2)", bulk_update_requests(
        f"{{{{serverUrl}}}}/v2{{{{partitionPrefix}}}}", "{{serverUrl}}/v2"))
    delete = folder("7. DELETE", [
        request("Delete an instance", "DELETE",
                f"{SERIES_URL}/instances/{{{{sop2Uid}}}}", [status_test(204)]),
        request("Delete a series", "DELETE", f"{STUDY_URL}/series/{{{{series2Uid}}}}",
                [status_test(204)]),
        request("Delete the study", "DELETE", STUDY_URL, [status_test(204)]),
        request("The study is gone: 404", "GET", STUDY_URL, [
            status_test(404),
            'pm.test("text", () => pm.expect(pm.response.text()).to.eql("The specified study cannot be found."));',
        ], {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}),
        request("Change feed latest is a Delete", "GET", "{{baseUrl}}/changefeed/latest", [
            status_test(200),
            'pm.test("Delete action", () => pm.expect(pm.response.json().action).to.eql("Delete"));',
        ]),
    ])
    workitems = folder("8. Workitems (UPS-RS)",
                       workitems_folder(P, request, status_test, json_body))
    partitions = folder("9. Partition administration", partition_admin_folder(
        request, PARTITION_ON, json_body, file_body))
    variables = {"baseUrl": "http://127.0.0.1:8080", "serverUrl": "http://127.0.0.1:8080",
                 "partitionName": "SiteA", "partitionPrefix": "", "partitionsEnabled": "false",
                 "studyUid": STUDY, "series1Uid": SERIES_1, "series2Uid": SERIES_2,
                 "sop1Uid": SOP_1, "sop2Uid": SOP_2, "sop3Uid": SOP_3, "operationId": "",
                 "operationPolls": "0", "exportId": "", "exportPolls": "0", "pixelDataUri": "",
                 "token": "", "workitemUid": "", "workitem2Uid": "", "transactionUid": "",
                 "deletionId": "", "deletionPolls": "0"}
    return {
        "info": {"name": "DICOMweb server with data partitions", "schema": SCHEMA,
                 "description": "Every route of the API. Set baseUrl (and, with partitions "
                                "on, partitionPrefix=/partitions/{{partitionName}} and "
                                "partitionsEnabled=true, as the environments do). Upload files "
                                "are in postman/data (newman --working-dir postman/data). "
                                "A secured server (docs/security.md): set token to a bearer "
                                "token. Export needs DICOM_ENABLE_EXPORT=true and "
                                "DICOM_EXPORT_ROOT on the server."},
        "auth": BEARER_AUTH,
        "item": [setup, stow, wado, qido, change_feed, extended_query_tags, export, bulk_update,
                 delete, workitems, partitions],
        "variable": [{"key": k, "value": v} for k, v in variables.items()],
    }


#: The request of the reference's bulk update documentation (docs/concepts/bulk-update.md),
#: for this collection's study.
BULK_UPDATE = {"studyInstanceUids": ["{{studyUid}}"],
               "changeDataset": {"00100010": {"vr": "PN", "Value": [
                   {"Alphabetic": "New Patient Name 1"}]}}}


def bulk_update_requests(base: str, operations: str) -> list[dict]:
    """Bulk update of the test study (``base``: the v2 partition-aware prefix), its operation
    polled until done, the updated and the original metadata, and the reference's errors."""
    metadata = f"{base}/studies/{{{{studyUid}}}}/series/{{{{series1Uid}}}}/instances/{{{{sop1Uid}}}}/metadata"
    name = 'pm.response.json()[0]["00100010"].Value[0].Alphabetic'
    return [
        request("Bulk update the study (the reference's documented request)", "POST",
                f"{base}/studies/$bulkUpdate", [
                    status_test(202),
                    'const ref = pm.response.json();',
                    'pm.test("operation reference", () => pm.expect(Object.keys(ref).sort()).to.eql(["href", "id"]));',
                    'pm.test("id", () => pm.expect(ref.id).to.match(/^[0-9a-f]{32}$/));',
                    'pm.test("href", () => pm.expect(ref.href).to.include("/v2/operations/" + ref.id));',
                    'pm.collectionVariables.set("operationId", ref.id);',
                    'pm.collectionVariables.set("operationPolls", "0");',
                ], {"Content-Type": "application/json"}, json_body(BULK_UPDATE)),
        request("Get the update operation (polls until done)", "GET",
                f"{operations}/operations/{{{{operationId}}}}", poll_operation([
                    '  const op = pm.response.json();',
                    '  pm.test("type update", () => pm.expect(op.type).to.eql("update"));',
                    '  pm.test("succeeded", () => pm.expect(op.status).to.eql("succeeded"));',
                    '  pm.test("results", () => pm.expect(op.results).to.eql({studyProcessed: 1, studyUpdated: 1, studyFailed: 0, instanceUpdated: 3}));',
                ])),
        request("Metadata has the new name", "GET", metadata, [
            status_test(200),
            f'pm.test("new name", () => pm.expect({name}).to.eql("New Patient Name 1"));',
        ], {"Accept": DICOM_JSON}),
        request("Original metadata (msdicom-request-original: true)", "GET", metadata, [
            status_test(200),
            f'pm.test("name as stored", () => pm.expect({name}).to.eql("Postman^Pat"));',
        ], {"Accept": DICOM_JSON, "msdicom-request-original": "true"}),
        request("Bulk update of a tag that may not change: 400 dataset", "POST",
                f"{base}/studies/$bulkUpdate", [
                    status_test(400),
                    'const item = pm.response.json()["00741048"].Value[0];',
                    'pm.test("error comment", () => pm.expect(item["00000902"].Value[0]).to.eql("DICOM100: (0020,000d) - Updating the tag is not supported"));',
                ], {"Content-Type": "application/json"},
                json_body({"studyInstanceUids": ["{{studyUid}}"], "changeDataset": {
                    "0020000D": {"vr": "UI", "Value": ["1.2.3"]}}})),
        request("Bulk update without studies: 400", "POST", f"{base}/studies/$bulkUpdate", [
            status_test(400),
            'pm.test("text", () => pm.expect(pm.response.text()).to.eql("The required field \'StudyInstanceUids\' is missing or empty."));',
        ], {"Content-Type": "application/json"},
            json_body({"studyInstanceUids": [], "changeDataset": BULK_UPDATE["changeDataset"]})),
    ]


def reference_style_collection() -> dict:
    """A collection written the way the reference server's users write them: one baseUrl that
    includes the version (``http://host/v1``) and partitioned routes."""
    base = "{{baseUrl}}/partitions/{{partitionName}}"
    items = [
        request("Clean up", "DELETE", f"{base}/studies/{{{{studyUid}}}}",
                [status_test(204, 404, 400)]),
        request("Store instance", "POST", f"{base}/studies", [
            status_test(200), header_test("Content-Type", DICOM_JSON),
            'pm.test("retrieve URL has the partition", () => pm.expect(pm.response.json()["00081199"].Value[0]["00081190"].Value[0]).to.include("/v1/partitions/" + pm.collectionVariables.get("partitionName") + "/studies/"));',
        ], {"Accept": DICOM_JSON, "Content-Type": "application/dicom"},
            file_body("instance1.dcm")),
        request("Store multipart into study", "POST", f"{base}/studies/{{{{studyUid}}}}", [
            status_test(200)], {"Accept": DICOM_JSON, "Content-Type": MULTIPART_DICOM},
            file_body("instances2and3.multipart")),
        request("Get partitions", "GET", "{{baseUrl}}/partitions", [
            status_test(200),
            'pm.test("partition listed", () => pm.expect(pm.response.json().map(p => p.partitionName)).to.include(pm.collectionVariables.get("partitionName")));',
        ]),
        request("Query studies", "GET", f"{base}/studies?StudyInstanceUID={{{{studyUid}}}}", [
            status_test(200),
            'pm.test("one study", () => pm.expect(pm.response.json().length).to.eql(1));',
        ], {"Accept": DICOM_JSON}),
        request("Retrieve metadata", "GET", f"{base}/studies/{{{{studyUid}}}}/metadata", [
            status_test(200)], {"Accept": DICOM_JSON}),
        request("Retrieve instance", "GET",
                f"{base}/studies/{{{{studyUid}}}}/series/{{{{series1Uid}}}}/instances/{{{{sop1Uid}}}}",
                [status_test(200)], {"Accept": "application/dicom; transfer-syntax=*"}),
        request("Change feed", "GET", "{{baseUrl}}/changefeed?offset=0&limit=100", [
            status_test(200)]),
        # The reference's bulk update request: v1 has no bulk update (404, empty body).
        request("Bulk update in v1: 404", "POST", f"{base}/studies/$bulkUpdate", [
            status_test(404),
            'pm.test("empty body", () => pm.expect(pm.response.text()).to.eql(""));',
        ], {"Content-Type": "application/json"}, json_body(BULK_UPDATE)),
        request("Delete study", "DELETE", f"{base}/studies/{{{{studyUid}}}}", [status_test(204)]),
        *reference_style_workitems(base, request, status_test, json_body),
    ]
    variables = {"baseUrl": "http://127.0.0.1:8080/v1", "partitionName": "RefCollection",
                 "studyUid": STUDY, "series1Uid": SERIES_1, "sop1Uid": SOP_1, "token": "",
                 "workitemUid": "", "workitem2Uid": "", "transactionUid": ""}
    return {"info": {"name": "Reference-style collection (v1, partitioned)", "schema": SCHEMA},
            "auth": BEARER_AUTH, "item": items, "variable": [{"key": k, "value": v} for k, v in variables.items()]}


def environment(name: str, partitioned: bool) -> dict:
    values = {"baseUrl": "http://127.0.0.1:8080", "serverUrl": "http://127.0.0.1:8080",
              "partitionName": "SiteA",
              "partitionPrefix": "/partitions/{{partitionName}}" if partitioned else "",
              "partitionsEnabled": "true" if partitioned else "false"}
    return {"name": name, "values": [{"key": k, "value": v, "enabled": True}
                                     for k, v in values.items()],
            "_postman_variable_scope": "environment"}


def main() -> None:
    outputs = {
        "dicomweb.postman_collection.json": collection(),
        "reference-style.postman_collection.json": reference_style_collection(),
        "partitioned.postman_environment.json": environment("DICOMweb partitioned", True),
        "unpartitioned.postman_environment.json": environment("DICOMweb unpartitioned", False),
    }
    for name, value in outputs.items():
        (HERE / name).write_text(json.dumps(value, indent=2) + "\n")
    print("wrote", ", ".join(outputs))


if __name__ == "__main__":
    main()

"""The Postman requests for the UPS-RS worklist (issue #18): a whole workitem cycle (create,
search, retrieve, update, claim, complete, cancel request) with the reference's answers.

Used by ``postman.build_collection`` for the main collection (``workitems_folder``) and the
reference-style one (``reference_style_workitems``)."""
from __future__ import annotations

import json
from typing import Any, Callable

DICOM_JSON = "application/dicom+json"
JSON_HEADERS = {"Content-Type": DICOM_JSON, "Accept": DICOM_JSON}
#: Pre-request script: fresh workitem and transaction UIDs for every run.
NEW_UIDS = [
    'const stamp = String(Date.now()) + String(Math.floor(Math.random() * 1000));',
    'pm.collectionVariables.set("workitemUid", "1.2.826.0.1.3680043.10.543.1." + stamp);',
    'pm.collectionVariables.set("workitem2Uid", "1.2.826.0.1.3680043.10.543.2." + stamp);',
    'pm.collectionVariables.set("transactionUid", "1.2.826.0.1.3680043.10.543.3." + stamp);',
]


def _el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _code(value: str, meaning: str) -> dict[str, Any]:
    return {"00080100": _el("SH", value), "00080102": _el("SH", "99POSTMAN"),
            "00080104": _el("LO", meaning)}


def workitem_dataset(admitting_code_meaning: bool = True) -> dict[str, Any]:
    """A workitem that meets the create requirements (without the CodeMeaning of the admitting
    diagnosis item, as the reference's data-partition collection sends it, it does not)."""
    return {
        "00081195": _el("UI"),
        "00081080": _el("LO", "Admitting diagnoses"),
        "00081084": _el("SQ", {"00080104": _el("LO", "Diagnosis")} if admitting_code_meaning
                        else {}),
        "00100010": _el("PN", {"Alphabetic": "Postman^Worklist"}),
        "00100020": _el("LO", "POSTMAN-WI"),
        "00100021": _el("LO"), "00100024": _el("SQ"), "00101002": _el("SQ"),
        "00100030": _el("DA", "20000101"), "00100040": _el("CS", "F"),
        "00380010": _el("LO", "ADM-1"), "00380014": _el("SQ", {}),
        "00400400": _el("LT"),
        "00404005": _el("DT", "20240301103000"),
        "00404018": _el("SQ", _code("AI-TRIAGE", "AI triage")),
        "00404021": _el("SQ"),
        "00404025": _el("SQ", _code("CT1", "Station name")),
        "00404026": _el("SQ", _code("CT", "Station class")),
        "00404027": _el("SQ", _code("B1", "Geographic location")),
        "00404041": _el("CS", "READY"),
        "0040A370": _el("SQ", {"0020000D": _el("UI", "1.2.826.0.1.3680043.10.543.9"),
                               "00080050": _el("SH", "POSTMAN-ACC"),
                               "00401001": _el("SH", "RP-1")}),
        "00741002": _el("SQ"), "00741200": _el("CS", "MEDIUM"),
        "00741204": _el("LO", "Postman step"), "00741210": _el("SQ"), "00741216": _el("SQ"),
    }


PERFORMED = {"00741216": _el("SQ", {
    "00404028": _el("SQ", _code("CT1", "Performed station")),
    "00404050": _el("DT", "20240301110000"),
    "00404019": _el("SQ", _code("AI-TRIAGE", "AI triage")),
    "00404051": _el("DT", "20240301111500"),
    "00404033": _el("SQ", {"0040E020": _el("CS", "DICOM"), "00081199": _el("SQ", {
        "00081150": _el("UI", "1.2.840.10008.5.1.4.1.1.2"),
        "00081155": _el("UI", "1.2.3.4.5")})}),
})}


def _text_test(text: str) -> str:
    return f'pm.test("answer", () => pm.expect(pm.response.json()).to.eql({json.dumps(text)}));'


def workitems_folder(prefix: str, request: Callable[..., dict], status_test: Callable[..., str],
                     json_body: Callable[[object], dict]) -> list[dict]:
    """The workitem cycle under ``prefix`` (``{{baseUrl}}{{partitionPrefix}}``)."""
    item = f"{prefix}/workitems/{{{{workitemUid}}}}"
    state = {"00081195": _el("UI", "{{transactionUid}}"), "00741000": _el("CS", "IN PROGRESS")}
    other = {"00081195": _el("UI", "1.2.826.0.1.3680043.10.543.99"),
             "00741000": _el("CS", "IN PROGRESS")}
    completed = {**state, "00741000": _el("CS", "COMPLETED")}
    return [
        request("Create a workitem", "POST", f"{prefix}/workitems?{{{{workitemUid}}}}", [
            status_test(201),
            'pm.test("Location", () => pm.expect(pm.response.headers.get("Location")).to.include("/workitems/" + pm.collectionVariables.get("workitemUid")));',
        ], JSON_HEADERS, json_body([workitem_dataset()]), prerequest=NEW_UIDS),
        request("Create it again: 409", "POST", f"{prefix}/workitems?{{{{workitemUid}}}}", [
            status_test(409),
            _text_test("The workitem instance already exists. Try creating using a different UID."),
        ], JSON_HEADERS, json_body([workitem_dataset()])),
        request("Retrieve the workitem", "GET", item, [
            status_test(200),
            'const ds = pm.response.json();',
            'pm.test("SCHEDULED", () => pm.expect(ds["00741000"].Value[0]).to.eql("SCHEDULED"));',
            'pm.test("no transaction UID", () => pm.expect(ds).to.not.have.property("00081195"));',
        ], {"Accept": DICOM_JSON}),
        request("Search the worklist", "GET",
                f"{prefix}/workitems?ProcedureStepState=SCHEDULED&PatientID=postman-wi"
                "&ScheduledProcedureStepStartDateTime=20240301-20240301235959", [
                    status_test(200),
                    'pm.test("found", () => pm.expect(pm.response.json().map(d => d["00080018"].Value[0])).to.include(pm.collectionVariables.get("workitemUid")));',
                ], {"Accept": DICOM_JSON}),
        request("Search by station code and fuzzy name", "GET",
                f"{prefix}/workitems?ScheduledStationNameCodeSequence.CodeValue=CT1"
                "&PatientName=work&fuzzymatching=true", [
                    status_test(200),
                    'pm.test("found", () => pm.expect(pm.response.json().map(d => d["00080018"].Value[0])).to.include(pm.collectionVariables.get("workitemUid")));',
                ], {"Accept": DICOM_JSON}),
        request("Update the scheduled workitem", "POST", item, [
            status_test(200),
            'pm.test("Content-Location", () => pm.expect(pm.response.headers.get("Content-Location")).to.include("/workitems/"));',
        ], JSON_HEADERS, json_body([{"00741204": _el("LO", "Postman step, updated")}])),
        request("Claim it (IN PROGRESS)", "PUT", f"{item}/state", [status_test(200)],
                JSON_HEADERS, json_body([state])),
        request("Claim by another client: 400 C301", "PUT", f"{item}/state", [
            status_test(400),
            _text_test("The workitem instance can not transition to 'IN PROGRESS' state: C301."),
            'pm.test("Warning", () => pm.expect(pm.response.headers.get("Warning")).to.include("C301"));',
        ], JSON_HEADERS, json_body([other])),
        request("Update without the transaction UID: 400", "POST", item, [
            status_test(400),
            _text_test("The target URI did not reference a claimed Workitem."),
        ], JSON_HEADERS, json_body([PERFORMED])),
        request("Report the performed procedure (owner)", "POST", f"{item}?{{{{transactionUid}}}}",
                [status_test(200)], JSON_HEADERS, json_body([PERFORMED])),
        request("Complete it", "PUT", f"{item}/state", [status_test(200)], JSON_HEADERS,
                json_body([completed])),
        request("Complete again: 200 with Warning B306", "PUT", f"{item}/state", [
            status_test(200),
            'pm.test("Warning", () => pm.expect(pm.response.headers.get("Warning")).to.include("B306"));',
        ], JSON_HEADERS, json_body([completed])),
        request("Retrieve: COMPLETED", "GET", item, [
            status_test(200),
            'pm.test("COMPLETED", () => pm.expect(pm.response.json()["00741000"].Value[0]).to.eql("COMPLETED"));',
        ], {"Accept": DICOM_JSON}),
        request("Create a second workitem", "POST", f"{prefix}/workitems?{{{{workitem2Uid}}}}",
                [status_test(201)], JSON_HEADERS, json_body([workitem_dataset()])),
        request("Request its cancellation: 202", "POST",
                f"{prefix}/workitems/{{{{workitem2Uid}}}}/cancelrequest", [
                    status_test(202), _text_test("The workitem instance has been cancelled."),
                ], JSON_HEADERS, json_body([{"00741238": _el("LT", "No longer needed")}])),
        request("Request it again: 409 with Warning", "POST",
                f"{prefix}/workitems/{{{{workitem2Uid}}}}/cancelrequest", [
                    status_test(409),
                    _text_test("The UPS is already in the requested state of CANCELED."),
                    'pm.test("Warning", () => pm.expect(pm.response.headers.get("Warning")).to.include("CANCELED"));',
                ], JSON_HEADERS, json_body([{}])),
        request("Search canceled workitems", "GET",
                f"{prefix}/workitems?ProcedureStepState=CANCELED&PatientID=POSTMAN-WI", [
                    status_test(200),
                    'pm.test("found", () => pm.expect(pm.response.json().map(d => d["00080018"].Value[0])).to.include(pm.collectionVariables.get("workitem2Uid")));',
                ], {"Accept": DICOM_JSON}),
        request("Unknown workitem: 404", "GET", f"{prefix}/workitems/1.2.3.4.5.6.7.8.9", [
            status_test(404), _text_test("The workitem instance is not found."),
        ], {"Accept": DICOM_JSON}),
    ]


def reference_style_workitems(base: str, request: Callable[..., dict],
                              status_test: Callable[..., str],
                              json_body: Callable[[object], dict]) -> list[dict]:
    """The workitem requests of the reference's data-partition collection, with its answers:
    its create body lacks the admitting diagnosis item's CodeMeaning (400, as the reference
    answers); with it, the cycle runs."""
    return [
        request("Create-workitem as the reference's collection sends it: 400", "POST",
                f"{base}/workitems?{{{{workitemUid}}}}", [
                    status_test(400),
                    _text_test("The required tag '(0008,0104)' is missing."),
                ], JSON_HEADERS, json_body([workitem_dataset(admitting_code_meaning=False)]),
                prerequest=NEW_UIDS),
        *workitems_folder(base, request, status_test, json_body),
    ]

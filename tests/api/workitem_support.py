"""Workitem datasets and requests for the UPS-RS tests (what the reference's E2E builder sends)."""
from __future__ import annotations

import json
from typing import Any

from pydicom.uid import generate_uid

DICOM_JSON = "application/dicom+json"
JSON_HEADERS = {"Content-Type": DICOM_JSON, "Accept": DICOM_JSON}


def el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def code(value: str, meaning: str = "Meaning") -> dict[str, Any]:
    return {"00080100": el("SH", value), "00080102": el("SH", "99TEST"),
            "00080104": el("LO", meaning)}


def workitem(uid: str | None = None, patient_name: str = "Doe^Jane", patient_id: str = "PID-1",
             start: str = "20240102103000", accession: str = "ACC-1", station: str = "CT1",
             study_uid: str | None = None, **extra: Any) -> dict[str, Any]:
    """A dataset that passes every create rule (reference-2.md §1.4)."""
    ds: dict[str, Any] = {
        "00081195": el("UI"),
        "00741200": el("CS", "MEDIUM"),
        "00741204": el("LO", "AI triage"),
        "00404005": el("DT", start),
        "00404041": el("CS", "READY"),
        "00741210": el("SQ"),
        "00404025": el("SQ", code(station, "Station name")),
        "00404026": el("SQ", code("CLASS1", "Station class")),
        "00404027": el("SQ", code("GEO1", "Geographic location")),
        "00404018": el("SQ", code("WORK1", "Requested procedure")),
        "00400400": el("LT"),
        "00404021": el("SQ"),
        "00100010": el("PN", {"Alphabetic": patient_name}),
        "00100020": el("LO", patient_id),
        "00100021": el("LO"),
        "00100024": el("SQ"),
        "00101002": el("SQ"),
        "00100030": el("DA", "20000101"),
        "00100040": el("CS", "F"),
        "00380010": el("LO", "ADM-1"),
        "00380014": el("SQ", {}),
        "00081080": el("LO", "Admitting diagnoses"),
        "00081084": el("SQ", {"00080104": el("LO", "Diagnosis")}),
        "0040A370": el("SQ", {"0020000D": el("UI", study_uid or generate_uid()),
                              "00080050": el("SH", accession),
                              "00401001": el("SH", "RP-1")}),
        "00741002": el("SQ"),
        "00741216": el("SQ"),
    }
    if uid is not None:
        ds["00080018"] = el("UI", uid)
    if study_uid is not None:
        ds["0020000D"] = el("UI", study_uid)
    ds.update(extra)
    return ds


def body(ds: dict[str, Any]) -> str:
    return json.dumps([ds])


def create(client: Any, base: str, ds: dict[str, Any] | None = None, uid: str | None = None,
           headers: dict[str, str] | None = None) -> Any:
    """POST ``{base}/workitems?{uid}`` (a new UID when none is given)."""
    uid = uid or generate_uid()
    return client.post(f"{base}/workitems?{uid}", data=body(ds if ds is not None else workitem()),
                       headers=headers or JSON_HEADERS)


def change_state(client: Any, base: str, uid: str, state: str, transaction_uid: str,
                 headers: dict[str, str] | None = None) -> Any:
    ds = {"00081195": el("UI", transaction_uid), "00741000": el("CS", state)}
    return client.put(f"{base}/workitems/{uid}/state", data=body(ds),
                      headers=headers or JSON_HEADERS)


def update(client: Any, base: str, uid: str, ds: dict[str, Any],
           transaction_uid: str | None = None, headers: dict[str, str] | None = None) -> Any:
    query = f"?{transaction_uid}" if transaction_uid else ""
    return client.post(f"{base}/workitems/{uid}{query}", data=body(ds),
                       headers=headers or JSON_HEADERS)


def completion_update() -> dict[str, Any]:
    """What a performer sends before completing (the reference's E2E workflow)."""
    return {"00741216": el("SQ", {
        "00404028": el("SQ", code("STATION", "Performed station")),
        "00404050": el("DT", "20240102110000"),
        "00404019": el("SQ", code("DONE", "Performed workitem")),
        "00404051": el("DT", "20240102113000"),
        "00404033": el("SQ", {"0040E020": el("CS", "DICOM"),
                              "00081199": el("SQ", {"00081150": el("UI", "1.2.3"),
                                                    "00081155": el("UI", "1.2.3.4")})}),
    })}


def cancellation_update() -> dict[str, Any]:
    """What the owner sends before canceling an IN PROGRESS step."""
    return {"00741002": el("SQ", {
        "00404052": el("DT", "20240102110000"),
        "0074100E": el("SQ", code("REASON", "Reason")),
    })}


def retrieve(client: Any, base: str, uid: str) -> dict[str, Any]:
    response = client.get(f"{base}/workitems/{uid}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()

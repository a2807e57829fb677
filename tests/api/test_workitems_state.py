"""UPS-RS change state and request cancellation (issue #18, reference-2.md §1.5-1.6): the state
machine, its texts, the final-state checks, and concurrent claims."""
from __future__ import annotations

import threading

import pytest
from pydicom.uid import generate_uid

from tests.api.workitem_support import (DICOM_JSON, JSON_HEADERS, body, cancellation_update,
                                        change_state, completion_update, create, el, retrieve,
                                        update)

OWNER, OTHER = "1.2.840.99.1", "1.2.840.99.2"


def _refused(state: str, code: str) -> str:
    return f"The workitem instance can not transition to '{state}' state: {code}."


def _in_state(client, base, state: str) -> str:
    """A new workitem brought to ``state`` by OWNER."""
    uid = generate_uid()
    assert create(client, base, uid=uid).status_code == 201
    if state == "SCHEDULED":
        return uid
    if state == "CANCELED (request)":
        client.post(f"{base}/workitems/{uid}/cancelrequest", data="[{}]", headers=JSON_HEADERS)
        return uid
    assert change_state(client, base, uid, "IN PROGRESS", OWNER).status_code == 200
    if state == "COMPLETED":
        assert update(client, base, uid, completion_update(), OWNER).status_code == 200
        assert change_state(client, base, uid, "COMPLETED", OWNER).status_code == 200
    if state == "CANCELED":
        assert update(client, base, uid, cancellation_update(), OWNER).status_code == 200
        assert change_state(client, base, uid, "CANCELED", OWNER).status_code == 200
    return uid


def test_claim_update_complete_workflow(client, base):
    uid = _in_state(client, base, "SCHEDULED")
    response = change_state(client, base, uid, "IN PROGRESS", OWNER)
    assert (response.status_code, response.get_data()) == (200, b"")
    assert "Warning" not in response.headers
    stored = retrieve(client, base, uid)
    assert stored["00741000"] == el("CS", "IN PROGRESS")
    assert "00081195" not in stored
    # completing needs the performed procedure information
    response = change_state(client, base, uid, "COMPLETED", OWNER)
    assert response.status_code == 400
    assert response.get_json() == "The value for tag '(0074,1216)' is missing."
    assert retrieve(client, base, uid)["00741000"] == el("CS", "IN PROGRESS")
    assert update(client, base, uid, completion_update(), OWNER).status_code == 200
    assert change_state(client, base, uid, "COMPLETED", OWNER).status_code == 200
    assert retrieve(client, base, uid)["00741000"] == el("CS", "COMPLETED")


# (current state, requested state, transaction UID, status, message or None, warning)
TRANSITIONS = [
    ("SCHEDULED", "COMPLETED", OWNER, 400, _refused("COMPLETED", "C301")),
    ("SCHEDULED", "CANCELED", OWNER, 400, _refused("CANCELED", "C301")),
    ("IN PROGRESS", "IN PROGRESS", OWNER, 400, _refused("IN PROGRESS", "C302")),
    ("IN PROGRESS", "IN PROGRESS", OTHER, 400, _refused("IN PROGRESS", "C301")),
    ("IN PROGRESS", "COMPLETED", OTHER, 400, _refused("COMPLETED", "C301")),
    ("IN PROGRESS", "CANCELED", OTHER, 400, _refused("CANCELED", "C301")),
    ("IN PROGRESS", "CANCELED", OWNER, 400, "The value for tag '(0074,1002)' is missing."),
    ("COMPLETED", "COMPLETED", OWNER, 200,
     "The workitem instance is already in the final state 'COMPLETED'. B306."),
    ("COMPLETED", "COMPLETED", OTHER, 400, _refused("COMPLETED", "C301")),
    ("COMPLETED", "IN PROGRESS", OWNER, 400, _refused("IN PROGRESS", "C300")),
    ("COMPLETED", "CANCELED", OTHER, 400, _refused("CANCELED", "C301")),
    ("CANCELED", "CANCELED", OWNER, 200,
     "The workitem instance is already in the final state 'CANCELED'. B304."),
    ("CANCELED", "COMPLETED", OWNER, 400, _refused("COMPLETED", "C300")),
    ("CANCELED (request)", "CANCELED", OWNER, 400, _refused("CANCELED", "C301")),
]


def test_change_state_transitions_answer_the_reference_codes(client, base):
    for current, requested, transaction_uid, status, message in TRANSITIONS:
        uid = _in_state(client, base, current)
        before = retrieve(client, base, uid)
        response = change_state(client, base, uid, requested, transaction_uid)
        case = f"{current} -> {requested} by {transaction_uid}"
        assert response.status_code == status, case
        assert response.mimetype == DICOM_JSON
        assert response.get_json() == message, case
        assert response.headers["Warning"] == f'299 localhost: "{message}"'
        assert retrieve(client, base, uid) == before, case


def test_cancel_in_progress_workitem_by_its_owner(client, base):
    uid = _in_state(client, base, "CANCELED")
    assert retrieve(client, base, uid)["00741000"] == el("CS", "CANCELED")


def test_change_state_request_checks(client, base):
    uid = _in_state(client, base, "SCHEDULED")
    url = f"{base}/workitems/{uid}/state"
    cases = [
        ({"00741000": el("CS", "IN PROGRESS")}, "The required tag '(0008,1195)' is missing."),
        ({"00081195": el("UI", OWNER)}, "The required tag '(0074,1000)' is missing."),
        ({"00081195": el("UI"), "00741000": el("CS", "IN PROGRESS")},
         "The value for tag '(0008,1195)' is missing."),
        ({"00081195": el("UI", OWNER), "00741000": el("CS", "in progress")},
         "Expected value '(0074,1000)' to be one of the following values: "
         "[IN PROGRESS,CANCELED,COMPLETED]"),
        ({"00081195": el("UI", OWNER), "00741000": el("CS", "SCHEDULED")},
         "Expected value '(0074,1000)' to be one of the following values: "
         "[IN PROGRESS,CANCELED,COMPLETED]"),
    ]
    for ds, message in cases:
        response = client.put(url, data=body(ds), headers={"Content-Type": DICOM_JSON})
        assert (response.status_code, response.mimetype) == (400, "text/plain"), message
        assert response.get_data(as_text=True) == message
        assert response.headers["Warning"] == f'299 localhost: "{message}"'
    response = change_state(client, base, uid, "IN PROGRESS", "1.2.x")
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(
        "Dicom element 'TransactionUid' failed validation for VR 'UI'")
    response = change_state(client, base, "1.2.3.4.5", "IN PROGRESS", OWNER)
    assert (response.status_code, response.get_json()) == (404, "The workitem instance is not "
                                                                "found.")
    assert retrieve(client, base, uid)["00741000"] == el("CS", "SCHEDULED")


CANCEL_CASES = [
    ("IN PROGRESS", 400, "The workitem instance can not transition to 'Canceled' state: C312.",
     False),
    ("COMPLETED", 400, "The workitem instance can not transition to 'Canceled' state: C311.",
     False),
    ("CANCELED", 409, "The UPS is already in the requested state of CANCELED.", True),
]


def test_request_cancellation_answers_per_state(client, base):
    uid = _in_state(client, base, "SCHEDULED")
    request = [{"00741238": el("LT", "Patient left"), "0074100A": el("UR", "mailto:a@b"),
                "0074100C": el("LO", "Desk")}]
    import json
    response = client.post(f"{base}/workitems/{uid}/cancelrequest", data=json.dumps(request),
                           headers={"Content-Type": DICOM_JSON})
    assert (response.status_code, response.mimetype) == (202, DICOM_JSON)
    assert response.get_json() == "The workitem instance has been cancelled."
    assert "Warning" not in response.headers
    stored = retrieve(client, base, uid)
    assert stored["00741000"] == el("CS", "CANCELED")
    [progress] = stored["00741002"]["Value"]
    assert progress["0074100E"]["Value"][0]["00741238"] == el("LT", "Patient left")
    assert progress["00741008"]["Value"][0]["0074100A"] == el("UR", "mailto:a@b")
    for state, status, message, warning in CANCEL_CASES:
        target = _in_state(client, base, state)
        before = retrieve(client, base, target)
        response = client.post(f"{base}/workitems/{target}/cancelrequest", data="[{}]",
                               headers=JSON_HEADERS)
        assert (response.status_code, response.get_json()) == (status, message), state
        assert ("Warning" in response.headers) == warning
        assert retrieve(client, base, target) == before
    response = client.post(f"{base}/workitems/1.2.3.4.5/cancelrequest", data="[{}]",
                           headers=JSON_HEADERS)
    assert (response.status_code, response.get_json()) == (404, "The workitem instance is not "
                                                                "found.")


@pytest.mark.parametrize("rounds", [3])
def test_concurrent_claims_exactly_one_wins(app, base, rounds):
    client = app.test_client()
    for _ in range(rounds):
        uid = _in_state(client, base, "SCHEDULED")
        workers = 6
        barrier = threading.Barrier(workers)
        results: dict[str, tuple[int, str]] = {}

        def claim(transaction_uid: str) -> None:
            own = app.test_client()
            barrier.wait()
            response = change_state(own, base, uid, "IN PROGRESS", transaction_uid)
            results[transaction_uid] = (response.status_code, response.get_json())

        threads = [threading.Thread(target=claim, args=(f"1.2.840.77.{i}",))
                   for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        winners = [t for t, (status, _) in results.items() if status == 200]
        assert len(results) == workers and len(winners) == 1, results
        for transaction_uid, (status, message) in results.items():
            if transaction_uid != winners[0]:
                assert (status, message) == (400, _refused("IN PROGRESS", "C301"))
        # the winner owns it: only its UID may update or complete
        assert update(client, base, uid, {}, winners[0]).status_code == 200
        loser = next(t for t in results if t != winners[0])
        assert update(client, base, uid, {}, loser).status_code == 400

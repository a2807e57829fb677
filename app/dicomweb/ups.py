"""Unified Procedure Step rules (PS3.4 Annex CC) as the reference implements them (reference-2.md
§1.3-1.7): dataset requirements per transaction, the state machine, and the texts it answers.

Pure functions over DICOM JSON datasets (``ups_dataset``); failures raise
``WorkitemStatusError`` with the reference's status and message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadRequestError, WorkitemStatusError
from .tags import format_tag
from .ups_dataset import DicomJson, element, tag_key, text, values

SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED = "SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"
STATES = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED)
#: The states a change-state request may ask for, in the order the reference's message lists them.
REQUESTABLE_STATES = (IN_PROGRESS, CANCELED, COMPLETED)
UPS_PUSH_SOP_CLASS_UID = "1.2.840.10008.5.1.4.34.6.1"
WORKLIST_LABEL = "worklist"

TRANSACTION_UID = tag_key("TransactionUID")
SOP_CLASS_UID, SOP_INSTANCE_UID = tag_key("SOPClassUID"), tag_key("SOPInstanceUID")
PROCEDURE_STEP_STATE = tag_key("ProcedureStepState")
MODIFICATION_DATETIME = tag_key("ScheduledProcedureStepModificationDateTime")
WORKLIST_LABEL_TAG = tag_key("WorklistLabel")
PROGRESS_SEQUENCE = tag_key("ProcedureStepProgressInformationSequence")
PERFORMED_SEQUENCE = tag_key("UnifiedProcedureStepPerformedProcedureSequence")

# --- Messages (reference-2.md §1.3-1.7) ---------------------------------------------------------
NOT_FOUND = "The workitem instance is not found."
ALREADY_EXISTS = "The workitem instance already exists. Try creating using a different UID."
UID_MISMATCH = "SOPInstanceUID in the payload does not match the workitem query parameter."
NOT_CLAIMED = "The target URI did not reference a claimed Workitem."
INVALID_TRANSACTION_UID = "Invalid TransactionUID for the specified Workitem Instance UID."
_INCONSISTENT = "The submitted request is inconsistent with the current state of the Workitem."
UPDATE_COMPLETED = f"{_INCONSISTENT} The UPS is already COMPLETED."
UPDATE_CANCELED = f"{_INCONSISTENT} The UPS is already in the requested state of CANCELED."
CANCELLED = "The workitem instance has been cancelled."
ALREADY_CANCELED = "The UPS is already in the requested state of CANCELED."

# Requirement codes (PS3.4 Table CC.2.5-3 as the reference applies them).
VALUE = "value"            # present with a non-blank value (1, and the reference's 2/2 quirks)
PRESENT = "present"        # present, may be empty (2)
OPTIONAL = "optional"      # may be absent; a value when present (3)
CONDITIONAL = "conditional"  # not checked (1C, 2C); item rules still apply
EMPTY = "empty"            # present and empty (TransactionUID at create)
NOT_ALLOWED = "not allowed"


@dataclass(frozen=True)
class Rule:
    """A requirement on one attribute, and the rules of its items when it has any."""

    keyword: str
    code: str
    items: tuple["Rule", ...] = ()

    @property
    def key(self) -> str:
        return tag_key(self.keyword)


def _rules(code: str, *keywords: str) -> tuple[Rule, ...]:
    return tuple(Rule(keyword, code) for keyword in keywords)


CODE_ITEM = (Rule("CodeMeaning", VALUE),)
REFERENCED_INSTANCES_ITEM = (
    Rule("TypeOfInstances", VALUE),
    Rule("ReferencedSOPSequence", VALUE, _rules(VALUE, "ReferencedSOPClassUID",
                                               "ReferencedSOPInstanceUID")),
)
HUMAN_PERFORMER_ITEM = (Rule("HumanPerformerCodeSequence", VALUE, CODE_ITEM),
                        *_rules(VALUE, "HumanPerformerName", "HumanPerformerOrganization"))

#: Create (reference-2.md §1.4), in the order the reference checks them.
CREATE_RULES: tuple[Rule, ...] = (
    Rule("TransactionUID", PRESENT), Rule("TransactionUID", EMPTY),
    *_rules(VALUE, "SOPClassUID", "SOPInstanceUID", "ScheduledProcedureStepPriority",
            "ScheduledProcedureStepModificationDateTime", "ProcedureStepLabel", "WorklistLabel"),
    Rule("ScheduledProcessingParametersSequence", PRESENT),
    Rule("ScheduledStationNameCodeSequence", PRESENT, CODE_ITEM),
    Rule("ScheduledStationClassCodeSequence", PRESENT, CODE_ITEM),
    Rule("ScheduledStationGeographicLocationCodeSequence", PRESENT, CODE_ITEM),
    Rule("ScheduledHumanPerformersSequence", CONDITIONAL, HUMAN_PERFORMER_ITEM),
    Rule("ScheduledProcedureStepStartDateTime", VALUE),
    Rule("ExpectedCompletionDateTime", OPTIONAL),
    Rule("ScheduledWorkitemCodeSequence", PRESENT, CODE_ITEM),
    Rule("CommentsOnTheScheduledProcedureStep", PRESENT),
    Rule("InputReadinessState", VALUE),
    Rule("InputInformationSequence", PRESENT, REFERENCED_INSTANCES_ITEM),
    Rule("StudyInstanceUID", OPTIONAL),
    *_rules(PRESENT, "PatientName", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
            "OtherPatientIDsSequence"),
    *_rules(VALUE, "PatientBirthDate", "PatientSex", "AdmissionID", "IssuerOfAdmissionIDSequence",
            "AdmittingDiagnosesDescription"),
    Rule("AdmittingDiagnosesCodeSequence", VALUE, CODE_ITEM),
    Rule("ReferencedRequestSequence", PRESENT, (Rule("StudyInstanceUID", VALUE),)),
    Rule("ProcedureStepProgressInformationSequence", PRESENT, _rules(
        NOT_ALLOWED, "ProcedureStepProgress", "ProcedureStepProgressDescription",
        "ProcedureStepProgressParametersSequence", "ProcedureStepCommunicationsURISequence",
        "ProcedureStepCancellationDateTime", "ReasonForCancellation",
        "ProcedureStepDiscontinuationReasonCodeSequence")),
    Rule("UnifiedProcedureStepPerformedProcedureSequence", PRESENT, _rules(
        NOT_ALLOWED, "ActualHumanPerformersSequence", "PerformedStationNameCodeSequence",
        "PerformedStationClassCodeSequence", "PerformedStationGeographicLocationCodeSequence",
        "PerformedProcedureStepStartDateTime", "PerformedProcedureStepDescription",
        "CommentsOnThePerformedProcedureStep", "PerformedWorkitemCodeSequence",
        "PerformedProcessingParametersSequence", "PerformedProcedureStepEndDateTime",
        "OutputInformationSequence")),
)

#: Update (reference-2.md §1.7).
UPDATE_RULES: tuple[Rule, ...] = (
    *_rules(NOT_ALLOWED, "SOPClassUID", "SOPInstanceUID", "ProcedureStepState", "PatientName",
            "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
            "PatientBirthDate", "PatientSex", "AdmissionID", "IssuerOfAdmissionIDSequence",
            "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
            "ReferencedRequestSequence", "ReplacedProcedureStepSequence"),
    *_rules(OPTIONAL, "ScheduledProcedureStepPriority", "ProcedureStepLabel", "WorklistLabel",
            "ScheduledProcedureStepStartDateTime", "ExpectedCompletionDateTime",
            "InputReadinessState", "StudyInstanceUID"),
    Rule("ScheduledStationNameCodeSequence", CONDITIONAL, CODE_ITEM),
    Rule("ScheduledStationClassCodeSequence", CONDITIONAL, CODE_ITEM),
    Rule("ScheduledStationGeographicLocationCodeSequence", CONDITIONAL, CODE_ITEM),
    Rule("ScheduledHumanPerformersSequence", CONDITIONAL, HUMAN_PERFORMER_ITEM),
    Rule("ScheduledWorkitemCodeSequence", CONDITIONAL, CODE_ITEM),
    Rule("InputInformationSequence", CONDITIONAL, REFERENCED_INSTANCES_ITEM),
    Rule("UnifiedProcedureStepPerformedProcedureSequence", CONDITIONAL, (
        Rule("PerformedStationNameCodeSequence", CONDITIONAL, CODE_ITEM),
        Rule("PerformedWorkitemCodeSequence", CONDITIONAL, CODE_ITEM),
        Rule("OutputInformationSequence", PRESENT, REFERENCED_INSTANCES_ITEM))),
)

#: What a step must hold to become COMPLETED or CANCELED (reference-2.md §1.5; PS3.4 CC.2.5.1.1).
_FINAL_RULES = _rules(VALUE, "SOPClassUID", "SOPInstanceUID", "ScheduledProcedureStepPriority",
                      "ScheduledProcedureStepModificationDateTime",
                      "ScheduledProcedureStepStartDateTime", "InputReadinessState",
                      "ProcedureStepState")
FINAL_STATE_RULES: dict[str, tuple[Rule, ...]] = {
    COMPLETED: (*_FINAL_RULES, Rule("UnifiedProcedureStepPerformedProcedureSequence", VALUE,
                                    _rules(VALUE, "PerformedStationNameCodeSequence",
                                           "PerformedProcedureStepStartDateTime",
                                           "PerformedWorkitemCodeSequence",
                                           "PerformedProcedureStepEndDateTime",
                                           "OutputInformationSequence"))),
    CANCELED: (*_FINAL_RULES, Rule("ProcedureStepProgressInformationSequence", VALUE,
                                   _rules(VALUE, "ProcedureStepCancellationDateTime",
                                          "ProcedureStepDiscontinuationReasonCodeSequence"))),
}


def bad_request(message: str) -> WorkitemStatusError:
    return WorkitemStatusError(400, message)


def _is_blank(ds: DicomJson, key: str) -> bool:
    """Every value is a string of only spaces (an SQ item or a number is never blank)."""
    found = values(ds, key)
    return all(isinstance(v, (str, dict)) and not text(v).strip() for v in found)


def check(ds: DicomJson, rules: tuple[Rule, ...]) -> None:
    """Apply requirement rules in order; the first failure raises 400 with its message."""
    for rule in rules:
        key = rule.key
        tag = format_tag(int(key, 16))
        present = key in ds
        has_value = bool(values(ds, key))
        if rule.code == NOT_ALLOWED:
            if present:
                raise bad_request(f"The attribute with tag '{tag}' cannot be present.")
            continue
        if rule.code == EMPTY:
            if has_value:
                raise bad_request(f"The attribute with tag '{tag}' must be empty.")
            continue
        if not present:
            if rule.code in (VALUE, PRESENT):
                raise bad_request(f"The required tag '{tag}' is missing.")
            continue
        if rule.code in (VALUE, OPTIONAL):
            if not has_value:
                raise bad_request(f"The value for tag '{tag}' is missing.")
            if ds[key]["vr"] != "SQ" and _is_blank(ds, key):
                raise bad_request(f"The attribute with tag '{tag}' must not be empty.")
        if rule.items and ds[key]["vr"] == "SQ":
            for item in values(ds, key):
                check(item, rule.items)


# --- Create and update ------------------------------------------------------------------------

def prepare_create(ds: DicomJson, workitem_uid: str | None, now: str) -> str:
    """Set what the server sets (reference-2.md §1.3), check the create rules; return the UID."""
    given = values(ds, SOP_INSTANCE_UID)
    if workitem_uid is not None:
        if given and text(given[0]) != workitem_uid:
            raise BadRequestError(UID_MISMATCH)  # an exception there: text/plain
        ds[SOP_INSTANCE_UID] = element("UI", workitem_uid)
    ds[SOP_CLASS_UID] = element("UI", UPS_PUSH_SOP_CLASS_UID)
    ds[MODIFICATION_DATETIME] = element("DT", now)
    ds[WORKLIST_LABEL_TAG] = element("LO", WORKLIST_LABEL)
    ds[PROCEDURE_STEP_STATE] = element("CS", SCHEDULED)
    check(ds, CREATE_RULES)
    return text(values(ds, SOP_INSTANCE_UID)[0]).strip()


def check_update_allowed(state: str | None, owner: str | None,
                         transaction_uid: str | None) -> None:
    """May this update go ahead (reference-2.md §1.7)? Checked before the dataset rules."""
    if state is None:
        raise bad_request(NOT_CLAIMED)
    if state == SCHEDULED:
        if transaction_uid is not None:
            raise bad_request(INVALID_TRANSACTION_UID)
    elif state == IN_PROGRESS:
        if transaction_uid is None or transaction_uid != owner:
            raise bad_request(NOT_CLAIMED)
    elif state == COMPLETED:
        raise bad_request(UPDATE_COMPLETED)
    else:
        raise WorkitemStatusError(409, UPDATE_CANCELED)


def merge_update(stored: DicomJson, request: DicomJson, now: str) -> DicomJson:
    """The stored dataset with each top-level attribute of the (checked) request replacing its
    own. The request's TransactionUID is ignored: only a claim changes the owner."""
    request = {**request, MODIFICATION_DATETIME: element("DT", now)}
    check(request, UPDATE_RULES)
    request.pop(TRANSACTION_UID, None)
    return {**stored, **request}


# --- Change state (reference-2.md §1.5) ----------------------------------------------------------

@dataclass(frozen=True)
class StateChange:
    """What a change-state request asks: the target state and the caller's transaction UID."""

    state: str
    transaction_uid: str


def parse_state_request(ds: DicomJson) -> StateChange:
    """The request's TransactionUID and ProcedureStepState, checked (400 otherwise)."""
    check(ds, (Rule("TransactionUID", VALUE), Rule("ProcedureStepState", VALUE)))
    state = text(values(ds, PROCEDURE_STEP_STATE)[0]).strip()
    if state not in REQUESTABLE_STATES:
        raise bad_request(f"Expected value '{format_tag(0x00741000)}' to be one of the following "
                          f"values: [{','.join(REQUESTABLE_STATES)}]")
    return StateChange(state, text(values(ds, TRANSACTION_UID)[0]).strip())


def transition(current: str, owner: str | None, change: StateChange) -> str | None:
    """Decide a change of state. Returns None to apply it, or the warning of a request that
    asks for the final state the step is already in (200 without change); raises 400 else."""
    match = owner is not None and change.transaction_uid == owner

    def refuse(code: str) -> WorkitemStatusError:
        return bad_request(f"The workitem instance can not transition to '{change.state}' "
                           f"state: {code}.")

    if current == SCHEDULED:
        if change.state == IN_PROGRESS:
            return None
        raise refuse("C301")
    if current == IN_PROGRESS:
        if change.state == IN_PROGRESS:
            raise refuse("C302" if match else "C301")
        if not match:
            raise refuse("C301")
        return None
    if current == change.state and match:
        code = "B306" if current == COMPLETED else "B304"
        return f"The workitem instance is already in the final state '{current}'. {code}."
    raise refuse("C300" if match else "C301")


def apply_state(ds: DicomJson, change: StateChange) -> DicomJson:
    """The dataset in its new state, owned by the caller; final states must meet their rules."""
    result = {**ds, PROCEDURE_STEP_STATE: element("CS", change.state),
              TRANSACTION_UID: element("UI", change.transaction_uid)}
    if change.state in FINAL_STATE_RULES:
        check(result, FINAL_STATE_RULES[change.state])
    return result


# --- Request cancellation (reference-2.md §1.6) --------------------------------------------------

def check_cancel_allowed(state: str | None) -> None:
    if state is None:
        raise WorkitemStatusError(404, NOT_FOUND)
    if state == CANCELED:
        raise WorkitemStatusError(409, ALREADY_CANCELED, warning=True)
    if state == IN_PROGRESS:
        raise bad_request("The workitem instance can not transition to 'Canceled' state: C312.")
    if state == COMPLETED:
        raise bad_request("The workitem instance can not transition to 'Canceled' state: C311.")


def apply_cancel(ds: DicomJson, request: DicomJson, now: str) -> DicomJson:
    """The step CANCELED as the reference records a cancellation request."""
    def first(keyword: str) -> Any:
        found = values(request, tag_key(keyword))
        return text(found[0]) if found else ""

    reason = {tag_key("ReasonForCancellation"): element("LT", first("ReasonForCancellation"))}
    progress_item = {
        tag_key("ProcedureStepCancellationDateTime"): element("DT", now),
        tag_key("ProcedureStepDiscontinuationReasonCodeSequence"): element("SQ", reason),
        tag_key("ProcedureStepCommunicationsURISequence"): element("SQ", {
            tag_key("ContactURI"): element("UR", first("ContactURI")),
            tag_key("ContactDisplayName"): element("LO", first("ContactDisplayName"))}),
    }
    result = {**ds, PROCEDURE_STEP_STATE: element("CS", CANCELED),
              tag_key("ProcedureStepCancellationDateTime"): element("DT", now),
              tag_key("ProcedureStepDiscontinuationReasonCodeSequence"): element("SQ", reason),
              PROGRESS_SEQUENCE: element("SQ", progress_item)}
    if PERFORMED_SEQUENCE in request:
        result[PERFORMED_SEQUENCE] = request[PERFORMED_SEQUENCE]
    check(result, FINAL_STATE_RULES[CANCELED])
    return result


def state_of(ds: DicomJson) -> str:
    """The stored ProcedureStepState, upper case (stored values are read case-insensitively)."""
    found = values(ds, PROCEDURE_STEP_STATE)
    return text(found[0]).strip().upper() if found else ""


def without_transaction_uid(ds: DicomJson) -> DicomJson:
    """What retrieve and search return: never the owner's transaction UID."""
    return {key: value for key, value in ds.items() if key != TRANSACTION_UID}

#!/usr/bin/env bash
# A worklist round trip (UPS-RS): create a workitem, find it on the worklist, claim it,
# report what was performed, complete it; then create a second one and cancel it.
# Usage: workitems.sh [--base-url URL] [--partition NAME] [--token TOKEN] [PATIENT_ID]
# Prints one line per step: the step, the HTTP status, and the workitem's state.
source "$(dirname "$0")/common.sh"
patient="${1:-CURL-PATIENT}"
stamp="$(date +%s)$RANDOM"
uid="1.2.826.0.1.3680043.10.543.11.$stamp"        # the workitem's UID (SOP Instance UID)
second="1.2.826.0.1.3680043.10.543.12.$stamp"
owner="1.2.826.0.1.3680043.10.543.13.$stamp"      # the performer's transaction UID
JSON=(-H "Content-Type: application/dicom+json" -H "Accept: application/dicom+json")

# A scheduled step: what the server requires at creation (TransactionUID present but empty,
# priority, label, start time, readiness, patient and visit attributes, ...).
workitem() {
    cat <<EOF
[{"00081195": {"vr": "UI"},
  "00741200": {"vr": "CS", "Value": ["HIGH"]},
  "00741204": {"vr": "LO", "Value": ["AI triage"]},
  "00404005": {"vr": "DT", "Value": ["$(date -u +%Y%m%d%H%M%S)"]},
  "00404041": {"vr": "CS", "Value": ["READY"]},
  "00741210": {"vr": "SQ"}, "00404021": {"vr": "SQ"}, "00400400": {"vr": "LT"},
  "00404025": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["AI1"]},
                                      "00080104": {"vr": "LO", "Value": ["AI node"]}}]},
  "00404026": {"vr": "SQ"}, "00404027": {"vr": "SQ"},
  "00404018": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["TRIAGE"]},
                                      "00080104": {"vr": "LO", "Value": ["Triage"]}}]},
  "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Curl^Example"}]},
  "00100020": {"vr": "LO", "Value": ["$patient"]},
  "00100021": {"vr": "LO"}, "00100024": {"vr": "SQ"}, "00101002": {"vr": "SQ"},
  "00100030": {"vr": "DA", "Value": ["19700101"]}, "00100040": {"vr": "CS", "Value": ["O"]},
  "00380010": {"vr": "LO", "Value": ["VISIT-1"]}, "00380014": {"vr": "SQ", "Value": [{}]},
  "00081080": {"vr": "LO", "Value": ["Follow-up"]},
  "00081084": {"vr": "SQ", "Value": [{"00080104": {"vr": "LO", "Value": ["Follow-up"]}}]},
  "0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.543.19"]},
                                      "00080050": {"vr": "SH", "Value": ["ACC-$stamp"]}}]},
  "00741002": {"vr": "SQ"}, "00741216": {"vr": "SQ"}}]
EOF
}

state() {  # the workitem's ProcedureStepState
    fetch -H "Accept: application/dicom+json" "$API/workitems/$1" |
        json 'print(d["00741000"]["Value"][0])'
}

step() {  # step NAME CURL-ARGS...: run a request, print its status and the workitem's state
    local name="$1"; shift
    local status
    status=$(curl --silent --show-error --output /dev/null --write-out "%{http_code}" \
        "${AUTH[@]+"${AUTH[@]}"}" "$@")
    echo "$name $status $(state "$uid")"
    case "$status" in 2*) ;; *) echo "unexpected status" >&2; exit 1 ;; esac
}

step create "${JSON[@]}" -X POST "$API/workitems?$uid" --data "$(workitem)"

# The worklist: scheduled steps of this patient (204 would mean none).
found=$(fetch -H "Accept: application/dicom+json" \
    "$API/workitems?ProcedureStepState=SCHEDULED&PatientID=$patient" |
    json 'print(" ".join(w["00080018"]["Value"][0] for w in d))')
case " $found " in *" $uid "*) echo "worklist has $uid" ;; *) echo "not on the worklist" >&2; exit 1 ;; esac

step claim "${JSON[@]}" -X PUT "$API/workitems/$uid/state" --data \
    "[{\"00081195\": {\"vr\": \"UI\", \"Value\": [\"$owner\"]}, \"00741000\": {\"vr\": \"CS\", \"Value\": [\"IN PROGRESS\"]}}]"

# Only the owner's transaction UID may update a claimed step: report what was performed.
step report "${JSON[@]}" -X POST "$API/workitems/$uid?$owner" --data '[{"00741216": {"vr": "SQ", "Value": [{
    "00404028": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["AI1"]}, "00080104": {"vr": "LO", "Value": ["AI node"]}}]},
    "00404050": {"vr": "DT", "Value": ["20240101100000"]},
    "00404019": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["TRIAGE"]}, "00080104": {"vr": "LO", "Value": ["Triage"]}}]},
    "00404051": {"vr": "DT", "Value": ["20240101100500"]},
    "00404033": {"vr": "SQ", "Value": [{"0040E020": {"vr": "CS", "Value": ["DICOM"]},
        "00081199": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.88.22"]},
                                            "00081155": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.543.20"]}}]}}]}}]}}]'

step complete "${JSON[@]}" -X PUT "$API/workitems/$uid/state" --data \
    "[{\"00081195\": {\"vr\": \"UI\", \"Value\": [\"$owner\"]}, \"00741000\": {\"vr\": \"CS\", \"Value\": [\"COMPLETED\"]}}]"

# A step nobody claimed yet can be canceled at a client's request (202).
fetch "${JSON[@]}" -X POST "$API/workitems?$second" --data "$(workitem)"
fetch "${JSON[@]}" -X POST "$API/workitems/$second/cancelrequest" \
    --data '[{"00741238": {"vr": "LT", "Value": ["No longer needed"]}}]' > /dev/null
echo "cancelrequest $second $(state "$second")"

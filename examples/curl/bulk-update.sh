#!/usr/bin/env bash
# Change the patient name (and optionally the patient ID) of a study, and wait for the update.
# Usage: bulk-update.sh [--base-url URL] [--partition NAME] [--token TOKEN] STUDY NAME [ID]
# Afterwards the study reads with the new values; the original version stays available with
# the header "msdicom-request-original: true" (docs/api/bulk_update.md).
source "$(dirname "$0")/common.sh"
study="${1:?usage: bulk-update.sh STUDY NAME [ID]}"
name="${2:?usage: bulk-update.sh STUDY NAME [ID]}"
id="${3:-}"

# The change is a DICOM JSON dataset; only patient and study attributes may change.
body=$(STUDY="$study" NAME="$name" ID="$id" python3 -c '
import json, os
change = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": os.environ["NAME"]}]}}
if os.environ["ID"]:
    change["00100020"] = {"vr": "LO", "Value": [os.environ["ID"]]}
print(json.dumps({"studyInstanceUids": [os.environ["STUDY"]], "changeDataset": change}))')

# 202 with the operation reference; bulk update exists in v2 only.
v2="$BASE_URL/v2${PARTITION:+/partitions/$PARTITION}"
operation=$(fetch -X POST -H "Content-Type: application/json" --data "$body" \
    "$v2/studies/\$bulkUpdate" | json 'print(d["href"])')
echo "operation $operation"

# The operation answers 202 while it runs and 200 when it has finished.
for _ in $(seq 1 300); do
    status=$(fetch "$operation" | json 'print(d["status"], d.get("results", ""))')
    case "$status" in
        notStarted*|running*) sleep 1 ;;
        *) echo "$status"; exit 0 ;;
    esac
done
echo "still running: $status" >&2
exit 1

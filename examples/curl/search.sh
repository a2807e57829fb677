#!/usr/bin/env bash
# Search for studies (QIDO-RS) and print UID, patient and date of each.
# Usage: search.sh [--base-url URL] [--partition NAME] [--token TOKEN] [QUERY]
# QUERY is a query string, e.g. 'PatientID=123' or 'PatientName=Doe*&StudyDate=20240101-'.
source "$(dirname "$0")/common.sh"
query="${1:-}"

# 204 No Content means nothing matched; 200 carries a DICOM JSON array.
fetch -H "Accept: application/dicom+json" "$API/studies?$query" > /tmp/qido-response.json
if [ ! -s /tmp/qido-response.json ]; then
    echo "no studies match"
    exit 0
fi
json '
def first(ds, tag):
    return (ds.get(tag, {}).get("Value") or [""])[0]
for study in d:
    name = first(study, "00100010")
    name = name.get("Alphabetic", "") if isinstance(name, dict) else name
    print(first(study, "0020000D"), first(study, "00100020"), name, first(study, "00080020"))
' < /tmp/qido-response.json

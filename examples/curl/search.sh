#!/usr/bin/env bash
# Search for studies (QIDO-RS) and print UID, patient and date of each.
# Usage: search.sh [--base-url URL] [--partition NAME] [--token TOKEN] [QUERY]
# QUERY is a query string, e.g. 'PatientID=123' or 'PatientName=Doe*&StudyDate=20240101-'.
# --partition '*' searches every partition (needs `read` in scope `/`); each line then ends
# with the study's partition and its RetrieveURL in that partition.
source "$(dirname "$0")/common.sh"
query="${1:-}"

# 204 No Content means nothing matched; 200 carries a DICOM JSON array.
fetch -H "Accept: application/dicom+json" "$API/studies?$query" > /tmp/qido-response.json
if [ ! -s /tmp/qido-response.json ]; then
    echo "no studies match"
    exit 0
fi
# Across partitions, the partition's name is the private element (0009,1001) of creator
# "DICOMWEB PARTITION" (0009,0010).
json '
def first(ds, tag):
    return (ds.get(tag, {}).get("Value") or [""])[0]
for study in d:
    name = first(study, "00100010")
    name = name.get("Alphabetic", "") if isinstance(name, dict) else name
    origin = [first(study, "00091001"), first(study, "00081190")] if "00091001" in study else []
    print(first(study, "0020000D"), first(study, "00100020"), name, first(study, "00080020"),
          *origin)
' < /tmp/qido-response.json

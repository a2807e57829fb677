#!/usr/bin/env bash
# Export studies, series or instances into a folder under the server's export root, wait for
# the operation and print its results (the server needs DICOM_ENABLE_EXPORT=true and
# DICOM_EXPORT_ROOT; see docs/api/export.md).
# Usage: export.sh [--base-url URL] [--partition NAME] [--token TOKEN] FOLDER IDENTIFIER...
#   IDENTIFIER: STUDY, STUDY/SERIES or STUDY/SERIES/SOP
#   FOLDER: relative to the export root; the files go to FOLDER/<operation id>/results/...
source "$(dirname "$0")/common.sh"
folder="${1:?usage: export.sh FOLDER IDENTIFIER...}"
shift
[ $# -gt 0 ] || { echo "usage: export.sh FOLDER IDENTIFIER..." >&2; exit 2; }

request=$(python3 -c '
import json, sys
print(json.dumps({"source": {"type": "identifiers", "settings": {"values": sys.argv[2:]}},
                  "destination": {"type": "filesystem", "settings": {"path": sys.argv[1]}}}))
' "$folder" "$@")
operation=$(fetch -X POST -H "Content-Type: application/json" --data "$request" "$API/export" \
            | json 'print(d["href"])')
echo "queued $operation"

wait_operation "$operation" | json '
r = d.get("results") or {}
print(d["status"], "exported", r.get("exported"), "skipped", r.get("skipped"), r.get("errorHref"))'

#!/usr/bin/env bash
# Export studies, series or instances into a folder under the server's export root or into an
# S3 bucket, wait for the operation and print its results (the server needs
# DICOM_ENABLE_EXPORT=true and DICOM_EXPORT_ROOT or DICOM_EXPORT_S3_BUCKETS; docs/api/export.md).
# Usage: export.sh [--base-url URL] [--partition NAME] [--token TOKEN] TARGET IDENTIFIER...
#   IDENTIFIER: STUDY, STUDY/SERIES or STUDY/SERIES/SOP
#   TARGET: a folder relative to the export root (files go to FOLDER/<operation id>/results/...)
#           or s3://BUCKET[/PREFIX] (objects PREFIX/<operation id>/results/...)
source "$(dirname "$0")/common.sh"
target="${1:?usage: export.sh TARGET IDENTIFIER...}"
shift
[ $# -gt 0 ] || { echo "usage: export.sh TARGET IDENTIFIER..." >&2; exit 2; }

request=$(python3 -c '
import json, sys
target = sys.argv[1]
if target.startswith("s3://"):
    bucket, _, prefix = target[5:].partition("/")
    destination = {"type": "s3", "settings": {"bucket": bucket, "prefix": prefix}}
else:
    destination = {"type": "filesystem", "settings": {"path": target}}
print(json.dumps({"source": {"type": "identifiers", "settings": {"values": sys.argv[2:]}},
                  "destination": destination}))
' "$target" "$@")
operation=$(fetch -X POST -H "Content-Type: application/json" --data "$request" "$API/export" \
            | json 'print(d["href"])')
echo "queued $operation"

wait_operation "$operation" | json '
r = d.get("results") or {}
print(d["status"], "exported", r.get("exported"), "skipped", r.get("skipped"), r.get("errorHref"))'

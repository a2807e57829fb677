#!/usr/bin/env bash
# Store every .dcm file of a folder (STOW-RS), one request per file.
# Usage: store.sh [--base-url URL] [--partition NAME] [--token TOKEN] FOLDER
source "$(dirname "$0")/common.sh"
folder="${1:?usage: store.sh FOLDER}"

for file in "$folder"/*.dcm; do
    # A single DICOM file is sent as the whole body with Content-Type application/dicom.
    # The answer is DICOM JSON: ReferencedSOPSequence (00081199) lists what was stored.
    status=$(curl --silent --output /tmp/stow-response.json --write-out '%{http_code}' \
        "${AUTH[@]+"${AUTH[@]}"}" -X POST -H "Content-Type: application/dicom" -H "Accept: application/dicom+json" \
        --data-binary "@$file" "$API/studies")
    case "$status" in
        200|202) echo "stored   $file" ;;
        409) echo "exists   $file (or failed: see FailureReason in /tmp/stow-response.json)" ;;
        *) echo "error $status for $file: $(cat /tmp/stow-response.json)"; exit 1 ;;
    esac
done

#!/usr/bin/env bash
# Print the metadata (DICOM JSON) of every instance of a study, one summary line each.
# Usage: metadata.sh [--base-url URL] [--partition NAME] [--token TOKEN] STUDY_UID
source "$(dirname "$0")/common.sh"
study="${1:?usage: metadata.sh STUDY_UID}"

# The answer is a JSON array, one DICOM JSON dataset per instance. Binary attributes such as
# PixelData (7FE00010) come as a BulkDataURI you can GET.
fetch -H "Accept: application/dicom+json" "$API/studies/$study/metadata" | json '
for ds in d:
    sop = ds["00080018"]["Value"][0]
    modality = (ds.get("00080060", {}).get("Value") or ["?"])[0]
    pixels = ds.get("7FE00010", {}).get("BulkDataURI", "no pixel data")
    print(sop, modality, pixels)
'

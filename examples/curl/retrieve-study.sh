#!/usr/bin/env bash
# Save every instance of a study into a folder as <SOPInstanceUID>.dcm (WADO-RS).
# Usage: retrieve-study.sh [--base-url URL] [--partition NAME] [--token TOKEN] STUDY_UID FOLDER
source "$(dirname "$0")/common.sh"
study="${1:?usage: retrieve-study.sh STUDY_UID FOLDER}"
folder="${2:?usage: retrieve-study.sh STUDY_UID FOLDER}"
mkdir -p "$folder"

# Ask QIDO which instances the study has (series and SOP Instance UIDs)...
fetch -H "Accept: application/dicom+json" "$API/studies/$study/instances?limit=200" |
    json 'print("\n".join(i["0020000E"]["Value"][0] + " " + i["00080018"]["Value"][0] for i in d))' |
while read -r series sop; do
    # ...then fetch each one as a single application/dicom part, bytes exactly as stored.
    fetch -H "Accept: application/dicom; transfer-syntax=*" \
        -o "$folder/$sop.dcm" "$API/studies/$study/series/$series/instances/$sop"
    echo "saved $folder/$sop.dcm"
done

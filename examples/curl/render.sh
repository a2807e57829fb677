#!/usr/bin/env bash
# Render one frame of an instance to a PNG file (WADO-RS rendered).
# Usage: render.sh [--base-url URL] [--partition NAME] [--token TOKEN] STUDY SERIES SOP FRAME OUT.png
source "$(dirname "$0")/common.sh"
study="${1:?usage: render.sh STUDY SERIES SOP FRAME OUT.png}"
series="${2:?}"; sop="${3:?}"; frame="${4:?}"; out="${5:?}"

# Frames are numbered from 1. Ask for image/jpeg (and ?quality=1..100) to get a JPEG instead.
fetch -H "Accept: image/png" -o "$out" \
    "$API/studies/$study/series/$series/instances/$sop/frames/$frame/rendered"
echo "wrote $out ($(wc -c < "$out") bytes)"

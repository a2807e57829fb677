#!/usr/bin/env bash
# Delete a study, a series or an instance.
# Usage: delete.sh [--base-url URL] [--partition NAME] [--token TOKEN] STUDY [SERIES [SOP]]
source "$(dirname "$0")/common.sh"
study="${1:?usage: delete.sh STUDY [SERIES [SOP]]}"
url="$API/studies/$study"
[ -n "${2:-}" ] && url="$url/series/$2"
[ -n "${3:-}" ] && url="$url/instances/$3"

# 204 means deleted; 404 means there was nothing to delete.
fetch -X DELETE "$url"
echo "deleted ${url#"$API"}"

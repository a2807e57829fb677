#!/usr/bin/env bash
# Print the change feed (creates and deletes), optionally following new entries.
# Usage: changefeed.sh [--base-url URL] [--partition NAME] [--token TOKEN] [--follow [POLLS]]
# With --partition, only that partition's entries are shown (GET /partitions/{p}/changefeed).
source "$(dirname "$0")/common.sh"
follow=0
polls=1000000
if [ "${1:-}" = "--follow" ]; then follow=1; polls="${2:-$polls}"; fi

# The v1 feed pages by sequence number: ask for the entries after the last one printed.
feed="$BASE_URL/v1"
[ -n "$PARTITION" ] && feed="$feed/partitions/$PARTITION"
offset=0
while [ "$polls" -gt 0 ]; do
    page=$(fetch "$feed/changefeed?offset=$offset&limit=100&includeMetadata=false")
    echo "$page" | json '
for e in d:
    print(e["sequence"], e["timestamp"], e["action"], e["state"], e["partitionName"],
          e["sopInstanceUid"])'
    last=$(echo "$page" | json 'print(d[-1]["sequence"] if d else "")')
    if [ -n "$last" ]; then
        offset="$last"
    elif [ "$follow" = 1 ]; then
        polls=$((polls - 1)); sleep 2      # nothing new yet: wait and ask again
    else
        break                              # read to the end: done
    fi
done

#!/usr/bin/env bash
# Administer a partition (needs partitions on; with security, the managePartitions action):
# show its statistics, set a quota, rename it, then delete it and wait for the deletion.
# Usage: partitions.sh [--base-url URL] [--token TOKEN] NAME NEW_NAME
# Prints one line per step; the deletion removes every instance and workitem of NEW_NAME.
source "$(dirname "$0")/common.sh"
name="${1:?usage: partitions.sh NAME NEW_NAME}"
new_name="${2:?usage: partitions.sh NAME NEW_NAME}"
JSON_TYPE=(-H "Content-Type: application/json")

# Statistics are kept as data changes: reading them costs a few rows, whatever the size.
fetch "$BASE_URL/partitions/$name" | json '
s = d["statistics"]
print("statistics", d["partitionName"], s["studies"], "studies", s["instances"], "instances",
      s["bytesStored"], "bytes")'

# A quota: stores beyond it fail with FailureReason 42752 (null removes a limit).
fetch -X PATCH "${JSON_TYPE[@]}" --data '{"quota": {"maxInstances": 100000, "maxBytes": null}}' \
      "$BASE_URL/partitions/$name" | json 'print("quota", d["quota"]["maxInstances"])'

# Rename: same data, new URLs; the old name is unknown afterwards.
fetch -X PATCH "${JSON_TYPE[@]}" --data "{\"partitionName\": \"$new_name\"}" \
      "$BASE_URL/partitions/$name" | json 'print("renamed", d["partitionName"])'

# Delete: 202 with the deletePartition operation, followed until it is done.
operation=$(fetch -X DELETE "$BASE_URL/partitions/$new_name" | json 'print(d["href"])')
wait_operation "$operation" | json 'print("delete", d["status"], d["percentComplete"])'

# Shared settings for the example scripts; each script sources this file.
#   BASE_URL   server address           (default http://127.0.0.1:8080)
#   PARTITION  data partition name      (default: none, i.e. partitions off)
#   TOKEN      OAuth bearer token       (default: none; needed when the server has
#              DICOM_SECURITY_ENABLED=true, see docs/security.md)
# All can also be given as the options --base-url URL, --partition NAME and --token TOKEN.
set -euo pipefail

BASE_URL="${BASE_URL:-http://127.0.0.1:8080}"
PARTITION="${PARTITION:-}"
TOKEN="${TOKEN:-}"
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --base-url) BASE_URL="$2"; shift 2 ;;
        --partition) PARTITION="$2"; shift 2 ;;
        --token) TOKEN="$2"; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"

# Partition-aware routes (STOW, WADO, QIDO, DELETE) live under /partitions/{name} when
# partitions are on.
if [ -n "$PARTITION" ]; then
    API="$BASE_URL/partitions/$PARTITION"
else
    API="$BASE_URL"
fi

# The Authorization header, when a token is set.
AUTH=()
if [ -n "$TOKEN" ]; then
    AUTH=(-H "Authorization: Bearer $TOKEN")
fi

# curl (with the token, if any) that fails on HTTP errors and prints the server's message.
fetch() {
    curl --silent --show-error --fail-with-body "${AUTH[@]+"${AUTH[@]}"}" "$@"
}

# Read one field from JSON on stdin with a short Python expression over `d`; an answer that is
# not JSON (a failed request's message, which fetch prints) goes to stderr, exit status 1.
json() {
    python3 -c "import json, sys
text = sys.stdin.read()
try:
    d = json.loads(text)
except ValueError:
    sys.exit(text.strip() or 1)
$1"
}

# Wait for a long-running operation (202 while it runs, 200 once done; at most 10 minutes) and
# print its JSON.
wait_operation() {
    local status
    for _ in $(seq 1 600); do
        status=$(fetch "$1" | json 'print(d["status"])')
        case "$status" in
            notStarted|running) sleep 1 ;;
            *) break ;;
        esac
    done
    fetch "$1"
}

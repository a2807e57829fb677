#!/bin/sh
# Two server nodes (python wsgi.py on 127.0.0.1:8081 and :8082) on one PostgreSQL database and
# one blob store, behind nginx on 127.0.0.1:8080 (docs/scale-out.md). Ctrl-C stops all three.
#
#   examples/scale-out/two-nodes.sh [DATABASE_URL]
#
# DATABASE_URL defaults to postgresql://postgres@127.0.0.1:5432/dicomweb (created if missing).
# Blobs go to ./data/blobs unless DICOM_BLOB_STORE_PATH (or DICOM_BLOB_STORE=s3 and its
# settings) is set in the environment. NGINX_BIN: the nginx binary (default: nginx on the
# PATH; not NGINX, which nginx reads itself).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
url=${1:-postgresql://postgres@127.0.0.1:5432/dicomweb}
run=${RUN_DIR:-$root/data/scale-out}
mkdir -p "$run"
python=${PYTHON:-$root/.venv/bin/python}

"$python" - "$url" <<'PY'
import sys
import psycopg2
base, name = sys.argv[1].rsplit("/", 1)
conn = psycopg2.connect(f"{base}/postgres")
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{name}"')
PY

export DICOM_DATABASE_URL="$url"
export DICOM_DATA_DIR="${DICOM_DATA_DIR:-$root/data}"
export DICOM_PUBLIC_BASE_URL="${DICOM_PUBLIC_BASE_URL:-http://127.0.0.1:8080}"
# The first node migrates the schema and writes the store identity; then the second starts.
(cd "$root" && DICOM_PORT=8081 exec "$python" wsgi.py) & first=$!
trap 'kill $first ${second:-} ${proxy:-} 2>/dev/null; wait' INT TERM EXIT
until curl -sf http://127.0.0.1:8081/health/check >/dev/null; do sleep 0.2; done
(cd "$root" && DICOM_PORT=8082 exec "$python" wsgi.py) & second=$!
until curl -sf http://127.0.0.1:8082/health/check >/dev/null; do sleep 0.2; done
${NGINX_BIN:-nginx} -p "$run" -c "$here/nginx.conf" -g "daemon off;" & proxy=$!
echo "two nodes behind nginx: http://127.0.0.1:8080 (Ctrl-C stops)"
wait

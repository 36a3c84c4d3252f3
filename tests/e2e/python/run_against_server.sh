#!/usr/bin/env bash
# Runs the Python clients against a real `orbit serve`: starts it on ephemeral ports with a
# temporary copy of the demo model, runs test_serve_http.py (and grpc_client_check.py when that
# file exists and the server has a gRPC port), then SIGTERMs the server and requires exit 0.
#
#   tests/e2e/python/run_against_server.sh build/orbit
set -euo pipefail
# shellcheck source=../lib/startup_line.sh
source "$(dirname "$0")/../lib/startup_line.sh"

orbit=$(realpath "${1:?usage: run_against_server.sh PATH/TO/orbit}")
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../../.." && pwd)
python=/usr/bin/python3

work=$(mktemp -d "${TMPDIR:-/tmp}/orbit_python_clients.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "run_against_server: $*" >&2
  echo "--- orbit serve stdout:" >&2; cat "$work/stdout" >&2 2>/dev/null || true
  echo "--- orbit serve stderr:" >&2; tail -n 40 "$work/stderr" >&2 2>/dev/null || true
  exit 1
}

mkdir -p "$work/models/cellseg/1"
cp "$source_dir/models/cellseg/orbit.yaml" "$work/models/cellseg/orbit.yaml"
printf '\nserving:\n  max_batch_size: 8\n  max_queue_delay_us: 2000\n  max_queue_size: 64\n' \
  >>"$work/models/cellseg/orbit.yaml"
cp "$source_dir/models/cellseg/model.onnx" "$work/models/cellseg/1/model.onnx"

args=(--log-level warn serve --model-repository "$work/models" --address 127.0.0.1
      --http-port 0 --metrics-port 0)
if "$orbit" serve --help | grep -q -- '--grpc-port'; then args+=(--grpc-port 0); fi
"$orbit" "${args[@]}" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

# The startup line, within 30 s (300 polls of 0.1 s).
line=$(wait_for_startup_line "$work/stdout" "$server_pid") ||
  fail "no startup line within 30 s (or it exited first)"
http_port=$(sed -nE 's/.*HTTP on [^ ]+:([0-9]+).*/\1/p' <<<"$line")
grpc_port=$(sed -nE 's/.*gRPC on [^ ]+:([0-9]+).*/\1/p' <<<"$line")
[[ -n "$http_port" ]] || fail "no HTTP port in the startup line: $line"
echo "run_against_server: $line"

status=0
ORBIT_HTTP_URL="http://127.0.0.1:$http_port" \
  "$python" -m pytest -q -p no:cacheprovider "$here/test_serve_http.py" || status=1

if [[ -f "$here/grpc_client_check.py" ]]; then
  if [[ -n "$grpc_port" ]]; then
    "$python" "$here/grpc_client_check.py" "127.0.0.1:$grpc_port" || status=1
  else
    echo "run_against_server: no gRPC port in the startup line; grpc_client_check.py not run"
  fi
fi

kill -TERM "$server_pid"
set +e
wait "$server_pid"
code=$?
set -e
server_pid=""
[[ $code -eq 0 ]] || fail "orbit serve exited $code after SIGTERM (expected 0)"
[[ $status -eq 0 ]] || fail "a client check failed"
echo "run_against_server: all client checks passed; orbit serve exited 0"

#!/usr/bin/env bash
# A real Prometheus scrapes `orbit serve`'s metrics port: after N successful infer requests,
# Prometheus's query API must report nv_inference_request_success == N and up == 1.
#
#   tests/e2e/prometheus/scrape_test.sh build/orbit [/usr/bin/prometheus]
set -euo pipefail
# shellcheck source=../lib/startup_line.sh
source "$(dirname "$0")/../lib/startup_line.sh"

orbit=$(realpath "${1:?usage: scrape_test.sh PATH/TO/orbit [PATH/TO/prometheus]}")
prometheus=${2:-/usr/bin/prometheus}
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../../.." && pwd)
requests_to_send=5

work=$(mktemp -d "${TMPDIR:-/tmp}/orbit_prometheus.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "prometheus_scrape: FAIL: $*" >&2
  echo "--- orbit serve stderr:" >&2; tail -n 20 "$work/orbit.err" >&2 2>/dev/null || true
  echo "--- prometheus log:" >&2; tail -n 20 "$work/prometheus.log" >&2 2>/dev/null || true
  exit 1
}
[[ -x "$prometheus" ]] || fail "$prometheus not found (Debian package 'prometheus')"

# A free TCP port on 127.0.0.1 (Prometheus has no "port 0").
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# GET/POST with a short timeout; prints the body.
http() { curl -sS --max-time 10 "$@"; }

mkdir -p "$work/models/cellseg/1"
cp "$source_dir/models/cellseg/orbit.yaml" "$work/models/cellseg/orbit.yaml"
cp "$source_dir/models/cellseg/model.onnx" "$work/models/cellseg/1/model.onnx"

args=(--log-level warn serve --model-repository "$work/models" --address 127.0.0.1
      --http-port 0 --metrics-port 0)
if "$orbit" serve --help | grep -q -- '--grpc-port'; then args+=(--grpc-port 0); fi
"$orbit" "${args[@]}" >"$work/orbit.out" 2>"$work/orbit.err" &
pids+=($!)
line=$(wait_for_startup_line "$work/orbit.out" "${pids[0]}") ||
  fail "orbit serve printed no startup line within 30 s (or it exited first)"
http_port=$(sed -nE 's/.*HTTP on [^ ]+:([0-9]+).*/\1/p' <<<"$line")
metrics_port=$(sed -nE 's/.*metrics on [^ ]+:([0-9]+).*/\1/p' <<<"$line")
[[ -n "$http_port" && -n "$metrics_port" ]] || fail "cannot parse ports from: $line"

# 16 x 16: the U-Net needs sides that are multiples of 16.
body='{"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,16,16],"data":['"$(seq -s, 0 255)"']}]}'
ok=0
for _ in $(seq "$requests_to_send"); do
  code=$(curl -sS --max-time 30 -o "$work/reply" -w '%{http_code}' -X POST \
         -H 'Content-Type: application/json' -d "$body" \
         "http://127.0.0.1:$http_port/v2/models/cellseg/infer")
  [[ "$code" == 200 ]] && ok=$((ok + 1))
done
[[ $ok -eq $requests_to_send ]] ||
  fail "only $ok of $requests_to_send infer requests succeeded (last: $(head -c 300 "$work/reply"))"

prom_port=$(free_port)
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: orbit
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

# Query value of `expr` summed over series ("" while Prometheus has no sample yet).
query() {
  { http -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null ||
      true; } |
    /usr/bin/python3 -c '
import json, sys
try:
    result = json.load(sys.stdin)["data"]["result"]
    print(int(float(result[0]["value"][1])) if result else "")
except Exception:
    print("")'
}

success="" up=""
for _ in $(seq 60); do  # 60 polls of 0.5 s: at most 30 s
  kill -0 "${pids[1]}" 2>/dev/null || fail "prometheus exited"
  success=$(query 'sum(nv_inference_request_success{job="orbit",model="cellseg"})')
  up=$(query 'up{job="orbit"}')
  [[ "$success" == "$ok" && "$up" == 1 ]] && break
  sleep 0.5
done
[[ "$up" == 1 ]] || fail "Prometheus reports up=${up:-<none>} for orbit's metrics port $metrics_port after 30 s"
[[ "$success" == "$ok" ]] ||
  fail "Prometheus reports nv_inference_request_success=${success:-<none>}, expected $ok"

kill -TERM "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
kill -TERM "${pids[0]}"
set +e
wait "${pids[0]}"
code=$?
set -e
[[ $code -eq 0 ]] || fail "orbit serve exited $code after SIGTERM"
pids=()
echo "prometheus_scrape: ok: Prometheus scraped nv_inference_request_success=$success, up=1"

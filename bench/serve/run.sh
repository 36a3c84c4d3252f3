#!/usr/bin/env bash
# Serving benchmark: the demo model (models/cellseg) behind
#   (a) raw in-process ONNX Runtime (`orbit bench` model-only; the limit),
#   (b) `orbit serve` over KServe v2 HTTP with the dynamic batcher (binary tensor extension),
#   (c) `orbit serve` over KServe v2 gRPC (only when `orbit serve --help` lists --grpc-port),
#   (d) FastAPI + uvicorn + PyTorch (bench/serve/fastapi_server.py, one worker),
# for [1,1,256,256] and [1,1,1024,1024] FP32 tensors and 256x256 PNGs on /segment, at several
# client concurrencies. Load: wrk (HTTP/1.1 keep-alive, closed loop) and h2load (gRPC), all on
# 127.0.0.1, every run bounded in time. Prints one table (also in $OUT/table.txt).
#
#   bench/serve/run.sh [BUILD_DIR]
#   env: THREADS=2 DUR=6 DUR_BIG=10 CONCS="1 4 16 64" CONCS_BIG="1 4" CONCS_SEG="1 4 16 64"
#        FA_DUR_BIG=15 RAW_SECONDS=3 RAW_ADJ_SECONDS=2 SAT_ROUNDS=5 ADAPTIVE=true MAX_BATCH=8 PREFERRED="4, 8" MAX_QUEUE_DELAY_US=2000
#        BENCH_OUT=$BUILD/bench-serve
# The whole run takes about 11 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
ORBIT=$BUILD/orbit
MODEL=models/cellseg
THREADS=${THREADS:-2}
DUR=${DUR:-6}              # seconds per point, 256x256 tensors and /segment
DUR_BIG=${DUR_BIG:-10}     # seconds per point, 1024x1024 tensors
CONCS=${CONCS:-"1 4 16 64"}
CONCS_BIG=${CONCS_BIG:-"1 4"}
CONCS_SEG=${CONCS_SEG:-"1 4 16 64"}
FA_DUR_BIG=${FA_DUR_BIG:-15}  # FastAPI + PyTorch needs ~1.7 s per 1024x1024 image: more requests
RAW_SECONDS=${RAW_SECONDS:-3}
RAW_ADJ_SECONDS=${RAW_ADJ_SECONDS:-2}  # per batch size, next to each served tensor point
SAT_ROUNDS=${SAT_ROUNDS:-5}            # interleaved raw/served rounds for the saturation goal
MAX_BATCH=${MAX_BATCH:-8}
PREFERRED=${PREFERRED:-"4, 8"}
MAX_QUEUE_DELAY_US=${MAX_QUEUE_DELAY_US:-2000}
ADAPTIVE=${ADAPTIVE:-true}  # serving.adaptive_batch_size: cap batches where batching stops paying
OUT=${BENCH_OUT:-$BUILD/bench-serve}
PY=/usr/bin/python3

for tool in wrk curl "$PY"; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 2; }
done
[[ -x $ORBIT ]] || { echo "error: $ORBIT not built" >&2; exit 2; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$OUT"
mkdir -p "$OUT/res" "$OUT/repo/cellseg/1" "$OUT/t256" "$OUT/t1024"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*" >&2; }

# --- (a) the limit: raw ONNX Runtime in-process, same thread count; also writes the test PNGs ---
log "raw ONNX Runtime (orbit bench), 256x256"
"$ORBIT" bench --model "$MODEL" --batch 1,4,8 --image-size 256x256 --threads "$THREADS" \
  --seconds "$RAW_SECONDS" --format json --save-image "$OUT/t256/input.png" >"$OUT/raw_t256.json"
log "raw ONNX Runtime (orbit bench), 1024x1024"
"$ORBIT" bench --model "$MODEL" --batch 1,4 --image-size 1024x1024 --threads "$THREADS" \
  --seconds "$RAW_SECONDS" --format json --save-image "$OUT/t1024/input.png" >"$OUT/raw_t1024.json"
for s in 256 1024; do
  "$PY" bench/serve/make_inputs.py --model "$MODEL" --image "$OUT/t$s/input.png" --out "$OUT/t$s"
done

# --- model repository with the dynamic batcher configured ---
ln -s "$PWD/$MODEL/model.onnx" "$OUT/repo/cellseg/1/model.onnx"
cp "$MODEL/orbit.yaml" "$OUT/repo/cellseg/orbit.yaml"
cat >>"$OUT/repo/cellseg/orbit.yaml" <<EOF
serving:
  max_batch_size: $MAX_BATCH
  preferred_batch_sizes: [$PREFERRED]
  max_queue_delay_us: $MAX_QUEUE_DELAY_US
  max_queue_size: 256
  instance_count: 1
  adaptive_batch_size: $ADAPTIVE
EOF

# One request through curl: checks the answer, and (servers answer in order) waits until the
# backlog a finished wrk run left in the server's queue has drained.
check_post() {  # url body_file expected_min_bytes header...
  local url=$1 body=$2 min=$3
  shift 3
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  local got
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 180 -X POST \
    --data-binary "@$body" -H "Content-Type: application/octet-stream" "${args[@]}" "$url")
  if [[ ${got%% *} != 200 || ${got##* } -lt $min ]]; then
    echo "error: POST $url answered '$got' (want 200 and >= $min bytes)" >&2
    return 1
  fi
}

# wrk_point name url body conc seconds header...  -> $OUT/res/name.json
wrk_point() {
  local name=$1 url=$2 body=$3 conc=$4 secs=$5
  shift 5
  local headers
  headers=$(IFS='|'; echo "$*")
  BODY_FILE=$body HEADERS=$headers RESULT_FILE="$OUT/res/$name.json" \
    wrk -t1 -c"$conc" -d"${secs}s" --timeout 120s -s bench/serve/post_binary.lua "$url" \
    >"$OUT/res/$name.wrk.txt"
}

scrape() { curl -s --max-time 10 "http://127.0.0.1:$METRICS_PORT/metrics" >"$1"; }

wait_for_line() {  # file regex seconds
  for _ in $(seq 1 $((${3} * 10))); do
    grep -qP "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: no line matching '$2' in $1:" >&2
  cat "$1" >&2
  return 1
}

# ------------------------------------------ (b) + (c) orbit serve ------------------------------
GRPC_ARGS=()
HAVE_GRPC=0
if "$ORBIT" serve --help 2>&1 | grep -q -- '--grpc-port'; then
  HAVE_GRPC=1
  GRPC_ARGS=(--grpc-port 0)
fi
log "orbit serve (threads $THREADS, max_batch_size $MAX_BATCH, max_queue_delay_us $MAX_QUEUE_DELAY_US)"
"$ORBIT" serve --model-repository "$OUT/repo" --address 127.0.0.1 --http-port 0 --metrics-port 0 \
  --threads "$THREADS" "${GRPC_ARGS[@]}" >"$OUT/orbit_serve.log" 2>&1 &
PIDS+=($!)
ORBIT_PID=$!
wait_for_line "$OUT/orbit_serve.log" 'HTTP on [^:]+:\d+' 60
HTTP_PORT=$(grep -oP 'HTTP on [^:]+:\K\d+' "$OUT/orbit_serve.log" | head -1)
METRICS_PORT=$(grep -oP 'metrics on [^:]+:\K\d+' "$OUT/orbit_serve.log" | head -1)
GRPC_PORT=$(grep -oP 'gRPC on [^:]+:\K\d+' "$OUT/orbit_serve.log" | head -1 || true)
if [[ $HAVE_GRPC == 1 && -z $GRPC_PORT ]]; then
  echo "orbit serve has --grpc-port but printed no 'gRPC on' port" >"$OUT/grpc_status.txt"
  HAVE_GRPC=0
fi
[[ $HAVE_GRPC == 0 && ! -f $OUT/grpc_status.txt ]] &&
  echo "not available: 'orbit serve --help' has no --grpc-port" >"$OUT/grpc_status.txt"
INFER=http://127.0.0.1:$HTTP_PORT/v2/models/cellseg/infer
SEGMENT=http://127.0.0.1:$HTTP_PORT/v2/models/cellseg/segment

# The limit measured right before a served point, with the server idle (its queue drained): this
# machine's speed drifts by 10-20 % within minutes (shared host), so each served point is compared
# with raw ONNX Runtime measured next to it -> $OUT/res/raw_adj__<system>__t<size>__c<conc>.json
raw_adjacent() {  # system size conc
  local sys=$1 s=$2 c=$3 batches=1
  [[ $c -ge 4 ]] && batches=1,4
  [[ $c -ge 8 && $s == 256 ]] && batches=1,4,8
  "$ORBIT" bench --model "$MODEL" --batch "$batches" --image-size "${s}x${s}" --threads "$THREADS" \
    --seconds "$RAW_ADJ_SECONDS" --format json >"$OUT/res/raw_adj__${sys}__t${s}__c$c.json"
}

orbit_tensor_point() {  # size conc seconds
  local s=$1 c=$2 secs=$3 hdr
  hdr="Inference-Header-Content-Length: $(cat "$OUT/t$s/kserve.hdr")"
  check_post "$INFER" "$OUT/t$s/kserve.bin" $((8 * s * s)) "$hdr"
  raw_adjacent orbit_http "$s" "$c"
  scrape "$OUT/res/orbit_http__t${s}__c$c.before.prom"
  wrk_point "orbit_http__t${s}__c$c" "$INFER" "$OUT/t$s/kserve.bin" "$c" "$secs" "$hdr"
  scrape "$OUT/res/orbit_http__t${s}__c$c.after.prom"
}
for s in 256 1024; do
  log "orbit HTTP ${s}x${s} warm-up"
  wrk_point "warmup_orbit_t$s" "$INFER" "$OUT/t$s/kserve.bin" 8 2 \
    "Inference-Header-Content-Length: $(cat "$OUT/t$s/kserve.hdr")"
  if [[ $s == 256 ]]; then concs=$CONCS; secs=$DUR; else concs=$CONCS_BIG; secs=$DUR_BIG; fi
  for c in $concs; do
    log "orbit HTTP ${s}x${s} c=$c"
    orbit_tensor_point "$s" "$c" "$secs"
  done
done
log "orbit HTTP /segment warm-up"
check_post "$SEGMENT" "$OUT/t256/input.png" 20 "Content-Type: image/png"
wrk_point warmup_orbit_seg "$SEGMENT" "$OUT/t256/input.png" 4 2 "Content-Type: image/png"
for c in $CONCS_SEG; do
  log "orbit HTTP /segment 256x256 PNG c=$c"
  check_post "$SEGMENT" "$OUT/t256/input.png" 20 "Content-Type: image/png"
  wrk_point "orbit_http__seg256__c$c" "$SEGMENT" "$OUT/t256/input.png" "$c" "$DUR" \
    "Content-Type: image/png"
done

if [[ $HAVE_GRPC == 1 ]]; then
  GRPC_URL=http://127.0.0.1:$GRPC_PORT/inference.GRPCInferenceService/ModelInfer
  grpc_check() {  # size -> 0 when grpc-status 0 and the answer has the logits
    local s=$1 hdrs size
    hdrs=$(curl -s --http2-prior-knowledge --max-time 180 -o "$OUT/grpc_answer_t$s.bin" -D - \
      -X POST --data-binary "@$OUT/t$s/grpc.bin" -H "Content-Type: application/grpc" \
      -H "TE: trailers" "$GRPC_URL" || true)
    size=$(stat -c %s "$OUT/grpc_answer_t$s.bin" 2>/dev/null || echo 0)
    echo "$hdrs" >"$OUT/grpc_check_t$s.txt"
    if grep -qi 'grpc-status: *[1-9]' <<<"$hdrs" || [[ $size -lt $((8 * s * s)) ]]; then
      echo "gRPC ${s}x${s} failed: $(grep -i 'grpc-\(status\|message\)' <<<"$hdrs" | tr -d '\r' |
        tr '\n' ' ') answer $size bytes" >>"$OUT/grpc_status.txt"
      return 1
    fi
  }
  grpc_point() {  # size conc seconds
    local s=$1 c=$2 secs=$3 name="orbit_grpc__t${1}__c$2"
    h2load -t1 -c"$c" -m1 -D"$secs" --data="$OUT/t$s/grpc.bin" \
      -H "content-type: application/grpc" -H "te: trailers" \
      --log-file="$OUT/res/$name.h2log" "$GRPC_URL" >"$OUT/res/$name.h2load.txt" 2>&1 || true
  }
  for s in 256 1024; do
    if ! grpc_check "$s"; then continue; fi
    log "orbit gRPC ${s}x${s} warm-up"
    grpc_point "$s" 8 2
    rm -f "$OUT/res/orbit_grpc__t${s}__c8."*
    if [[ $s == 256 ]]; then concs=$CONCS; secs=$DUR; else concs=$CONCS_BIG; secs=$DUR_BIG; fi
    for c in $concs; do
      log "orbit gRPC ${s}x${s} c=$c"
      grpc_check "$s" || break
      raw_adjacent orbit_grpc "$s" "$c"
      grpc_point "$s" "$c" "$secs"
    done
  done
  [[ -f $OUT/grpc_status.txt ]] || echo "available" >"$OUT/grpc_status.txt"
fi

# --- the saturation goal, interleaved: raw ONNX Runtime and the served point alternate for
# SAT_ROUNDS rounds at the highest concurrency, so that the host's drift hits both alike; the
# report takes the median of the per-round ratios -> res/sat__[raw__]<system>__t<size>__c<conc>__r<k>
sat_rounds() {  # system size conc served_seconds
  local sys=$1 s=$2 c=$3 secs=$4 r hdr
  hdr="Inference-Header-Content-Length: $(cat "$OUT/t$s/kserve.hdr")"
  for r in $(seq 1 "$SAT_ROUNDS"); do
    log "saturation round $r/$SAT_ROUNDS: $sys ${s}x${s} c=$c"
    "$ORBIT" bench --model "$MODEL" --batch 1 --image-size "${s}x${s}" --threads "$THREADS" \
      --seconds "$RAW_ADJ_SECONDS" --format json >"$OUT/res/sat__raw__${sys}__t${s}__c${c}__r$r.json"
    if [[ $sys == orbit_http ]]; then
      wrk_point "sat__${sys}__t${s}__c${c}__r$r" "$INFER" "$OUT/t$s/kserve.bin" "$c" "$secs" "$hdr"
      check_post "$INFER" "$OUT/t$s/kserve.bin" $((8 * s * s)) "$hdr"  # drains the backlog
    else
      h2load -t1 -c"$c" -m1 -D"$secs" --data="$OUT/t$s/grpc.bin" \
        -H "content-type: application/grpc" -H "te: trailers" \
        --log-file="$OUT/res/sat__${sys}__t${s}__c${c}__r$r.h2log" "$GRPC_URL" \
        >"$OUT/res/sat__${sys}__t${s}__c${c}__r$r.h2load.txt" 2>&1 || true
      grpc_check "$s" || true
    fi
  done
}
SYSTEMS_SAT=(orbit_http)
[[ $HAVE_GRPC == 1 ]] && SYSTEMS_SAT+=(orbit_grpc)
for sys in "${SYSTEMS_SAT[@]}"; do
  sat_rounds "$sys" 256 "${CONCS##* }" "$DUR"
  sat_rounds "$sys" 1024 "${CONCS_BIG##* }" "$DUR_BIG"
done
kill "$ORBIT_PID"
wait "$ORBIT_PID" 2>/dev/null || true

# ------------------------------------------ (d) FastAPI + PyTorch ------------------------------
FA_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log "FastAPI + uvicorn + PyTorch (torch threads $THREADS) on port $FA_PORT"
"$PY" bench/serve/fastapi_server.py --model "$MODEL" --host 127.0.0.1 --port "$FA_PORT" \
  --threads "$THREADS" >"$OUT/fastapi.log" 2>&1 &
PIDS+=($!)
FA_PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$FA_PORT/health" >/dev/null && break
  sleep 0.5
done
FA_INFER=http://127.0.0.1:$FA_PORT/infer
FA_SEGMENT=http://127.0.0.1:$FA_PORT/segment
for s in 256 1024; do
  shape="X-Shape: $(cat "$OUT/t$s/shape.txt")"
  log "FastAPI ${s}x${s} warm-up"
  check_post "$FA_INFER" "$OUT/t$s/raw.bin" $((8 * s * s)) "$shape"
  wrk_point "warmup_fastapi_t$s" "$FA_INFER" "$OUT/t$s/raw.bin" 2 2 "$shape"
  if [[ $s == 256 ]]; then concs=$CONCS; secs=$DUR; else concs=$CONCS_BIG; secs=$FA_DUR_BIG; fi
  for c in $concs; do
    log "FastAPI ${s}x${s} c=$c"
    check_post "$FA_INFER" "$OUT/t$s/raw.bin" $((8 * s * s)) "$shape"
    wrk_point "fastapi__t${s}__c$c" "$FA_INFER" "$OUT/t$s/raw.bin" "$c" "$secs" "$shape"
  done
done
log "FastAPI /segment warm-up"
check_post "$FA_SEGMENT" "$OUT/t256/input.png" 10 "Content-Type: image/png"
wrk_point warmup_fastapi_seg "$FA_SEGMENT" "$OUT/t256/input.png" 2 2 "Content-Type: image/png"
for c in $CONCS_SEG; do
  log "FastAPI /segment 256x256 PNG c=$c"
  check_post "$FA_SEGMENT" "$OUT/t256/input.png" 10 "Content-Type: image/png"
  wrk_point "fastapi__seg256__c$c" "$FA_SEGMENT" "$OUT/t256/input.png" "$c" "$DUR" \
    "Content-Type: image/png"
done
kill "$FA_PID"
wait "$FA_PID" 2>/dev/null || true

# The limit again, after the servers: the report takes the better of the two runs per batch size
# (the machine is shared, so this keeps the limit from being understated by a slow moment).
log "raw ONNX Runtime again (orbit bench), 256x256 and 1024x1024"
"$ORBIT" bench --model "$MODEL" --batch 1,4,8 --image-size 256x256 --threads "$THREADS" \
  --seconds "$RAW_SECONDS" --format json >"$OUT/raw2_t256.json"
"$ORBIT" bench --model "$MODEL" --batch 1,4 --image-size 1024x1024 --threads "$THREADS" \
  --seconds "$RAW_SECONDS" --format json >"$OUT/raw2_t1024.json"

{
  echo "machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(free -g | awk '/Mem:/ {print $2}') GiB; load average before the run: $LOAD_BEFORE"
  "$PY" bench/serve/report.py "$OUT" --threads "$THREADS" --max-batch "$MAX_BATCH" \
    --adaptive "$ADAPTIVE" \
    --preferred "$PREFERRED" --max-queue-delay-us "$MAX_QUEUE_DELAY_US"
} | tee "$OUT/table.txt"
echo "raw results: $OUT"

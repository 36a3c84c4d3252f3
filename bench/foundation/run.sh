#!/usr/bin/env bash
# Foundation benchmark: for one image size, the demo model alone (raw ONNX Runtime, the limit),
# Orbit's whole C++ pipeline (decode + pre + model + post), and the same pipeline in Python
# (PyTorch + numpy/scipy/skimage), on the same PNG with the same thread count. One table.
#   bench/foundation/run.sh [BUILD_DIR]    env: SIZE=1024x1024 BATCH=1,4 THREADS=2 SECONDS=10
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE=${SIZE:-1024x1024}
BATCH=${BATCH:-1,4}
THREADS=${THREADS:-2}
SECS=${BENCH_SECONDS:-10}
MODEL=models/cellseg
OUT=${BENCH_OUT:-$BUILD/bench-foundation}
mkdir -p "$OUT"

"$BUILD/orbit" bench --model "$MODEL" --batch "$BATCH" --threads "$THREADS" --image-size "$SIZE" \
  --seconds "$SECS" --format json --save-image "$OUT/input.png" >"$OUT/orbit.json"
/usr/bin/python3 bench/foundation/python_pipeline.py --model "$MODEL" --image "$OUT/input.png" \
  --batch "$BATCH" --threads "$THREADS" --seconds "$SECS" >"$OUT/python.json"
/usr/bin/python3 bench/foundation/compare.py "$OUT/orbit.json" "$OUT/python.json" | tee "$OUT/table.txt"
echo "raw results: $OUT/orbit.json $OUT/python.json"

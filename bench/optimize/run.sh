#!/usr/bin/env bash
# `orbit optimize` on the demo model: FP32 (raw ONNX Runtime, the reference), ONNX Runtime's
# offline-optimised FP32, FP16 and INT8 with each calibration method, measured interleaved on the
# same machine, accuracy on held-out labelled images; prints the report's table.
#
#   bench/optimize/run.sh [BUILD_DIR]     # env: SIZE=512x512 BATCH=1,8 THREADS=2 BENCH_SECONDS=5
#                                         #      METHODS=minmax,percentile,entropy PER_CHANNEL=1
#
# Calibration uses fixtures img_000..img_009, accuracy img_010..img_019 (disjoint sets).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
ORBIT="$BUILD/orbit"
WORK="$BUILD/bench-optimize"
FIXTURES="$ROOT/models/cellseg/fixtures"

rm -rf "$WORK"
mkdir -p "$WORK/calib" "$WORK/images" "$WORK/masks"
for f in "$FIXTURES"/images/img_00[0-9].*; do cp "$f" "$WORK/calib/"; done
for f in "$FIXTURES"/images/img_01[0-9].*; do
  cp "$f" "$WORK/images/"
  stem="$(basename "${f%.*}")"
  cp "$FIXTURES/masks/$stem.png" "$WORK/masks/"
done

extra=()
if [[ "${PER_CHANNEL:-1}" == 1 ]]; then extra+=(--per-channel); fi
set +e
"$ORBIT" optimize --model "$ROOT/models/cellseg" --out "$WORK/out" \
  --fp16 --int8 --calibration-images "$WORK/calib" \
  --calibration-method "${METHODS:-minmax,percentile,entropy}" "${extra[@]}" \
  --images "$WORK/images" --masks "$WORK/masks" \
  --bench-size "${SIZE:-512x512}" --bench-batch "${BATCH:-1,8}" \
  --bench-seconds "${BENCH_SECONDS:-5}" --threads "${THREADS:-2}" > "$WORK/stdout.txt"
status=$?
set -e
cat "$WORK/stdout.txt"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "VNNI: $(grep -q avx512_vnni /proc/cpuinfo && echo yes || echo no)"
echo "report: $WORK/out/report.md (exit $status: 0 = a variant accepted, 1 = none)"
[[ $status -le 1 ]]

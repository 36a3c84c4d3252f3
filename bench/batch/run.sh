#!/usr/bin/env bash
# orbit batch end-to-end throughput vs the raw batched model and vs a naive `orbit predict` loop.
# Usage: bench/batch/run.sh [BUILD_DIR]   env: COUNT=2000 SIZE=1024 BATCH=8 WORKERS=2 BENCH_SECONDS=20
#        NAIVE_COUNT=50 (the naive loop is timed on this many images and extrapolated)
#        TABLE=BUILD_DIR/bench-batch/table.txt (where the result table goes, besides stdout)
#        GEN_PROCS=2 (image generation processes)
# Images are generated into $WORK (default a temp dir) and never committed.
set -euo pipefail
BUILD=${1:-build}
ORBIT=$(realpath "$BUILD/orbit")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=$ROOT/models/cellseg
COUNT=${COUNT:-2000}
SIZE=${SIZE:-1024}
BATCH=${BATCH:-8}
WORKERS=${WORKERS:-2}
NAIVE_COUNT=${NAIVE_COUNT:-50}
NAIVE_COUNT=$((NAIVE_COUNT < COUNT ? NAIVE_COUNT : COUNT))
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-batch.XXXXXX)}
TABLE=${TABLE:-$BUILD/bench-batch/table.txt}  # the result table is also written here
mkdir -p "$(dirname "$TABLE")"
trap '[ -z "${KEEP:-}" ] && rm -rf "$WORK"' EXIT
mkdir -p "$WORK/images"

# Synthetic cells: ~SIZE²/2500 bright ellipses on a dark background plus noise, 16-bit PNG. Each
# image is seeded by its index (the set is the same however it is split); 2 processes, PNG
# compression level 1 (the noise does not compress anyway: level 6 gives the same size 5x slower).
# About 80 ms of CPU per 1024x1024 image (COUNT=100: 8 s): 2000 images in ~1.5 min on 2 idle cores.
# Reuses $WORK/images when it already holds COUNT images (KEEP=1 WORK=dir for repeated runs).
if [ "$(ls "$WORK/images" 2>/dev/null | wc -l)" -ne "$COUNT" ]; then
  echo "[bench/batch] generating $COUNT ${SIZE}x${SIZE} 16-bit images in $WORK/images"
  GEN_START=$(date +%s.%N)
  /usr/bin/python3 - "$WORK/images" "$COUNT" "$SIZE" "${GEN_PROCS:-2}" <<'PY'
import multiprocessing, sys
import numpy as np
from PIL import Image

out, count, size, procs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def generate(i):
    rng = np.random.default_rng(i)
    img = np.full((size, size), 300.0)
    for _ in range(size * size // 2500):
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(6, 16, 2)
        y0, y1 = int(max(cy - ry, 0)), int(min(cy + ry + 1, size))
        x0, x1 = int(max(cx - rx, 0)), int(min(cx + rx + 1, size))
        yy, xx = np.ogrid[y0:y1, x0:x1]
        sub = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        img[y0:y1, x0:x1][sub] = rng.uniform(1500, 3500)
    img += rng.normal(0, 60, img.shape)
    Image.fromarray(np.clip(img, 0, 65535).astype(np.uint16)).save(
        f"{out}/img_{i:05d}.png", compress_level=1)

with multiprocessing.Pool(procs) as pool:
    for _ in pool.imap_unordered(generate, range(count), chunksize=8):
        pass
PY
  GEN_END=$(date +%s.%N)
  echo "[bench/batch] generated in $(/usr/bin/python3 -c "print(f'{$GEN_END - $GEN_START:.1f}')") s"
fi

echo "[bench/batch] (a) raw batched model throughput (orbit bench, model only, batch $BATCH)"
"$ORBIT" bench --model "$MODEL" --batch "$BATCH" --image-size "${SIZE}x${SIZE}" \
  --seconds "${BENCH_SECONDS:-20}" --format json > "$WORK/model.json"
RAW=$(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); \
print(r['results'][0]['model_only']['images_per_second'])" "$WORK/model.json")

rm -rf "$WORK/job" "$WORK/naive"  # a kept WORK must not resume a finished job
echo "[bench/batch] (b) orbit batch run over $COUNT images"
START=$(date +%s.%N)
"$ORBIT" batch run --model "$MODEL" --input "$WORK/images" --output "$WORK/job" \
  --workers "$WORKERS" --batch-size "$BATCH" --progress-interval 30
END=$(date +%s.%N)
E2E=$(/usr/bin/python3 -c "print($COUNT / ($END - $START))")

echo "[bench/batch] (c) naive loop: orbit predict per image, $NAIVE_COUNT images"
START=$(date +%s.%N)
for f in $(ls "$WORK/images" | head -n "$NAIVE_COUNT"); do
  "$ORBIT" predict --model "$MODEL" --out "$WORK/naive" --no-overlay "$WORK/images/$f" > /dev/null
done
END=$(date +%s.%N)
NAIVE=$(/usr/bin/python3 -c "print($NAIVE_COUNT / ($END - $START))")

/usr/bin/python3 - "$RAW" "$E2E" "$NAIVE" "$COUNT" "$SIZE" "$BATCH" "$WORKERS" "$NAIVE_COUNT" \
  <<'PY' | tee "$TABLE"
import datetime, os, sys
raw, e2e, naive = map(float, sys.argv[1:4])
count, size, batch, workers, naive_count = sys.argv[4:]
print()
print(f"orbit batch benchmark ({datetime.date.today()}): {count} images {size}x{size}, "
      f"batch {batch}, workers {workers}, {os.cpu_count()} CPUs")
print(f"| measurement | images/s | vs raw model |")
print(f"|---|---|---|")
print(f"| (a) raw batched model (ONNX Runtime only, batch {batch}) | {raw:.2f} | 100 % |")
print(f"| (b) `orbit batch run` end to end (decode → model → post → write) | {e2e:.2f} | {100*e2e/raw:.1f} % |")
print(f"| (c) naive loop of `orbit predict` per image (timed on {naive_count}, extrapolated) | {naive:.2f} | {100*naive/raw:.1f} % |")
print(f"(b) is {100*e2e/raw:.1f} % of the raw model and {e2e/naive:.2f}x the naive loop; "
      f"time for {count} images: batch {int(count)/e2e/60:.1f} min, "
      f"naive (extrapolated) {int(count)/naive/60:.1f} min")
PY

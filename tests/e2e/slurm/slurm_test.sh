#!/usr/bin/env bash
# `orbit batch run --executor slurm` against a real, private, single-node Slurm cluster (Debian's
# slurm-wlm + munge), started here without systemd and stopped on exit. Checks that the merged
# output of a 3-shard array job has the same layout and items as a local run.
# Usage: slurm_test.sh ORBIT_BINARY   (needs root: slurmd runs jobs as their submitting user)
set -euo pipefail
ORBIT=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
MODEL=$ROOT/models/cellseg

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root to run slurmd"; exit 77; fi
for tool in slurmctld slurmd sbatch squeue sinfo munged mungekey; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (slurm-wlm, munge)"; exit 77; }
done

T=$(mktemp -d /tmp/orbit-slurm-test.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "---- logs (test failed, rc=$rc) ----"
    for f in "$T"/munged.log "$T"/slurmctld.log "$T"/slurmd.log "$T"/job/logs/*.out; do
      [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }
    done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# munge with a private key and socket.
mkdir -p "$T/munge"
chmod 755 "$T/munge"  # the socket's directory must be searchable; the key file itself is 0600
mungekey --create --keyfile "$T/munge/munge.key" --force 2>/dev/null ||
  dd if=/dev/urandom of="$T/munge/munge.key" bs=1 count=1024 status=none
chmod 600 "$T/munge/munge.key"
munged --foreground --force --socket "$T/munge/munge.sock" --key-file "$T/munge/munge.key" \
  --pid-file "$T/munge/munged.pid" --log-file "$T/munged.log" --seed-file "$T/munge/seed" \
  > "$T/munged.stdout" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.sock" ] || { echo "munged did not start"; exit 1; }

CPUS=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mkdir -p "$T/state" "$T/spool"
export SLURM_CONF=$T/slurm.conf
cat > "$SLURM_CONF" <<CONF
ClusterName=orbittest
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -D -i -f "$SLURM_CONF" > "$T/slurmctld.stdout" 2>&1 &
PIDS+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" > "$T/slurmd.stdout" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
  [ "$state" = "idle" ] && break
  sleep 0.5
done
[ "$state" = "idle" ] || { echo "node did not become idle (state '$state')"; exit 1; }
echo "slurm up: $(sinfo -h -o '%P %a %D %T')"

# Inputs: 9 small crops of the fixtures and a 3-page TIFF (12 items).
mkdir -p "$T/in"
/usr/bin/python3 - "$MODEL/fixtures/images" "$T/in" <<'PY'
import sys, numpy as np
from PIL import Image
src, out = sys.argv[1:]
img = np.array(Image.open(f"{src}/img_000.png"))
for i in range(9):
    Image.fromarray(img[i*10:i*10+96, i*7:i*7+96]).save(f"{out}/cells_{i}.png")
pages = [Image.fromarray(img[p*20:p*20+96, 0:96]) for p in range(3)]
pages[0].save(f"{out}/stack.tif", save_all=True, append_images=pages[1:])
PY

"$ORBIT" batch run --model "$MODEL" --input "$T/in" --output "$T/local" --workers 1 \
  --batch-size 2 > /dev/null
"$ORBIT" batch run --executor slurm --shards 3 --model "$MODEL" --input "$T/in" \
  --output "$T/job" --workers 1 --batch-size 2
state=""
for _ in $(seq 240); do
  state=$("$ORBIT" batch status --json "$T/job" | /usr/bin/python3 -c \
    'import json,sys; print(json.load(sys.stdin)["state"])')
  [ "$state" = "complete" ] || [ "$state" = "stopped" ] || [ "$state" = "incomplete" ] && break
  sleep 0.5
done
"$ORBIT" batch status "$T/job"
[ "$state" = "complete" ] || { echo "FAIL: slurm job ended '$state'"; exit 1; }

/usr/bin/python3 - "$T/local" "$T/job" <<'PY'
import csv, os, sys
local, job = sys.argv[1:]
def rows(d):
    with open(f"{d}/results.csv") as f:
        return {r["item"]: r for r in csv.DictReader(f)}
a, b = rows(local), rows(job)
assert len(a) == 12, f"local run has {len(a)} rows"
assert a.keys() == b.keys(), f"items differ: {sorted(a.keys() ^ b.keys())}"
for k in a:
    assert b[k]["status"] == "ok", (k, b[k]["status"])
    assert a[k]["object_count"] == b[k]["object_count"], k
    assert a[k]["mask_sha256"] == b[k]["mask_sha256"], k
with open(f"{job}/results.csv") as f:
    assert sum(1 for _ in f) == 13, "one header + one row per item"
masks = sorted(os.listdir(f"{job}/masks"))
assert masks == sorted(os.listdir(f"{local}/masks")), "mask files differ"
shards = sorted(os.listdir(f"{job}/journal"))
assert [s for s in shards if s.endswith(".log")] == [f"shard-{i}-of-3.log" for i in range(3)], shards
for name in ("objects.csv", "failures.csv", "summary.json"):
    assert os.path.exists(f"{job}/{name}"), name
print(f"PASS: slurm 3-shard job == local run ({len(a)} items, {len(masks)} masks)")
PY

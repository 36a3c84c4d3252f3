#!/usr/bin/env bash
# Builds the KServe request fuzzer with clang++ (libFuzzer + ASan + UBSan) and runs it.
#   fuzz/run.sh                 # 1,000,000 executions, as recorded in docs/fuzzing.md
#   fuzz/run.sh -runs=0 crash   # replay one input
#   fuzz/run.sh -max_total_time=600
# Extra arguments go to libFuzzer (a later -runs overrides the default). New inputs go to
# build/fuzz/corpus (not to the checked-in seeds); crashes to build/fuzz/crash-*.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${ORBIT_FUZZ_OUT:-$root/build/fuzz}"
cxx="${ORBIT_FUZZ_CXX:-clang++-14}"
mkdir -p "$out/corpus"

"$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS \
  -I"$root/src" \
  "$root/fuzz/kserve_request_fuzzer.cc" \
  "$root/src/serving/kserve_codec.cc" "$root/src/serving/status_mapping.cc" \
  "$root/src/core/status.cc" "$root/src/tensor/tensor.cc" \
  -o "$out/kserve_request_fuzzer"

# Sanitizer findings abort so that libFuzzer saves the input.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
cd "$out"
exec ./kserve_request_fuzzer -runs=1000000 -max_len=4096 -print_final_stats=1 \
  -dict="$root/fuzz/kserve.dict" -artifact_prefix="$out/" "$@" \
  "$out/corpus" "$root/fuzz/corpus/kserve"

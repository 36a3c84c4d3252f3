# Sourced by the e2e shell tests. wait_for_startup_line FILE PID: prints the first line that
# `orbit serve` (PID) wrote to FILE, waiting up to 30 s; returns 1 if the process died or nothing
# came. The file may not exist yet when the background job has not opened it: an empty read.
wait_for_startup_line() {
  local file=$1 pid=$2 line=""
  for _ in $(seq 300); do
    line=$(head -n 1 "$file" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

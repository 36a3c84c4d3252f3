#!/usr/bin/env bash
# Runs the PostgreSQL instances of store_test (Postgres/*) against a private PostgreSQL server
# started here in a temp dir on a free port and stopped on exit. A server that cannot be started
# is a failure, not a skip: these cases are the only proof the PostgreSQL back end works.
# Usage: with_postgres.sh STORE_TEST_BINARY [gtest args...]
set -euo pipefail
TEST_BINARY=$(realpath "$1")
shift

PG_BIN=${ORBIT_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "FAIL: PostgreSQL server binaries not found (install the 'postgresql' package," \
    "or set ORBIT_PG_BIN)" >&2
  exit 1
fi

T=$(mktemp -d /tmp/orbit-pg-test.XXXXXX)
chmod 755 "$T"
# PostgreSQL refuses to run as root: run the server as the postgres user when we are root.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "FAIL: running as root but no 'postgres' user" >&2; exit 1; }
  chown postgres: "$T"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

cleanup() {
  local rc=$?
  as_pg "$PG_BIN/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true
  if [ $rc -ne 0 ] && [ -f "$T/server.log" ]; then
    echo "---- PostgreSQL log (rc=$rc) ----"
    tail -n 40 "$T/server.log"
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/initdb" -D "$T/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
  >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; exit 1; }
# fsync off: the server lives for one test run; the tests prove locking, not disk durability.
as_pg "$PG_BIN/pg_ctl" -D "$T/data" -l "$T/server.log" -w -t 60 \
  -o "-k $T -p $PORT -h 127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100" \
  start >/dev/null
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres orbit_test

export ORBIT_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PORT/orbit_test"
"$TEST_BINARY" --gtest_filter='Postgres/*' "$@"

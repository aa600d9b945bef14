#!/usr/bin/env bash
# The per-connection memory levers side by side (docs/BENCHMARKS.md, "10,000
# connections: the levers"): the server's peak resident memory with 10,000
# connections each with a request in flight during a sale, and with 10,000
# event streams held open through an on-sale, for each build in VARIANTS,
# RUNS times, the variants alternating so the machine's drift falls on each.
#
#   VARIANTS="door-inside=/tmp/bin-A door-outside=target/release" RUNS=3 scripts/memory-ab.sh
#
# Each variant names a folder holding a release `boxoffice`; the load
# generator is this checkout's (target/release/boxoffice-loadgen). A fresh
# server and database for every measure; VmHWM is the process's peak.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench/memory-ab}
VARIANTS=${VARIANTS:?name=folder pairs, space-separated}
LOADGEN=target/release/boxoffice-loadgen
PG=postgres://postgres@127.0.0.1:5432
mkdir -p "$OUT"
ulimit -n 20000
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT

start_server() { # folder
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS boxoffice_memory WITH (FORCE)" >/dev/null
  env DATABASE_URL=$PG/boxoffice_memory RATE_LIMITS=off EMAIL_VERIFICATION=off MAIL_DIR=/tmp/memory-mail RUST_LOG=warn \
    AMQP_QUEUE_PREFIX="memory-$$-$RANDOM." AMQP_QUEUE_EXPIRES_MS=600000 REDIS_KEY_PREFIX="memory-$$-$RANDOM:" \
    "$1/boxoffice" serve >/tmp/memory-serve.log 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do curl -fs http://127.0.0.1:8080/readyz >/dev/null && return; sleep 0.5; done
  echo "server did not start"; exit 1
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }
peak_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER/status"; }

for i in $(seq 1 "$RUNS"); do
  for variant in $VARIANTS; do
    name=${variant%%=*}
    dir=${variant#*=}
    start_server "$dir"
    $LOADGEN flash-sale --database-url $PG/boxoffice_memory --users 200 --requests 40000 --capacity 20000 \
      --concurrency 10000 --json "$OUT/$name-connections-$i.json" >/dev/null
    echo "$name run $i: 10,000 connections in a sale: peak $(peak_mb) MB" | tee -a "$OUT/summary.txt"
    stop_server
    start_server "$dir"
    $LOADGEN watchers --database-url $PG/boxoffice_memory --streams 10000 --server-pid "$SERVER" --idle 20 \
      --json "$OUT/$name-watchers-$i.json" >/dev/null
    idle=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['rss_open_idle_mb']))" "$OUT/$name-watchers-$i.json")
    echo "$name run $i: 10,000 event streams: open and idle $idle MB, peak $(peak_mb) MB" | tee -a "$OUT/summary.txt"
    stop_server
  done
done

#!/usr/bin/env bash
# The benchmark of docs/BENCHMARKS.md: ceilings, flash sales (closed and open
# loop, free and priced), drains, reads with and without the cache, and the
# server's memory with 10,000 connections and with 10,000 event streams, RUNS
# times each, on this machine. Results go to $OUT/*.json (docs/bench unless
# set; and one plot). Needs a release build: cargo build --release --workspace
# (and `ulimit -n` of 20,000 or more for the 10,000 connections; skipped
# otherwise, with a line saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench}
mkdir -p "$OUT"
. scripts/bench-lib.sh

start_server
for i in $(seq 1 "$RUNS"); do
  fresh_db boxoffice_bench_direct
  DATABASE_URL=$PG/boxoffice_bench_direct AMQP_QUEUE_PREFIX="ceil-$$-$i." AMQP_QUEUE_EXPIRES_MS=600000 \
    REDIS_KEY_PREFIX="ceil-$$:" RUST_LOG=warn $BIN/boxoffice-loadgen ceilings --json "$OUT/ceilings-$i.json"
  $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --requests 20000 --capacity 5000 --concurrency 256 \
    --ceilings "$OUT/ceilings-$i.json" --json "$OUT/flash-sale-$i.json" --plot "$OUT/flash-sale.svg"
  # The same sale of a priced ticket type: held by the worker, then paid
  # (offline: the organizer marks each paid, 64 at a time).
  $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --requests 20000 --capacity 5000 --concurrency 256 \
    --price-cents 5000 --pay offline --ceilings "$OUT/ceilings-$i.json" --json "$OUT/flash-sale-priced-$i.json"
  fresh_db boxoffice_bench_drain
  DATABASE_URL=$PG/boxoffice_bench_drain AMQP_QUEUE_PREFIX="drain-$$-$i." AMQP_QUEUE_EXPIRES_MS=600000 \
    REDIS_KEY_PREFIX="drain-$$:" RUST_LOG=warn $BIN/boxoffice-loadgen drain --messages 20000 --json "$OUT/drain-$i.json"
done
# Open loop at about half the closed-loop peak of accepted requests.
RATE=${RATE:-3000}
for i in $(seq 1 "$RUNS"); do
  $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --requests 15000 --capacity 5000 --rate "$RATE" \
    --json "$OUT/open-loop-$i.json"
done
for i in $(seq 1 "$RUNS"); do
  $BIN/boxoffice-loadgen browse --concurrency 64 --seconds 5 --json "$OUT/browse-cache-on-$i.json"
done
stop_server
start_server READ_CACHE=off
for i in $(seq 1 "$RUNS"); do
  $BIN/boxoffice-loadgen browse --concurrency 64 --seconds 5 --json "$OUT/browse-cache-off-$i.json"
done
stop_server
# 10,000 connections, each with a request in flight, during a sale (200 buyers,
# so most requests are refused at the door), then 10,000 event streams held
# open through an on-sale: the server's peak resident memory, a fresh server
# for each (VmHWM is the process's peak).
ulimit -n 20000 2>/dev/null || true
if [ "$(ulimit -n)" -ge 20000 ]; then
  for i in $(seq 1 "$RUNS"); do
    start_server
    $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --users 200 --requests 40000 --capacity 20000 \
      --concurrency 10000 --json "$OUT/connections-10000-$i.json"
    grep -E 'VmHWM|VmRSS' /proc/$SERVER/status > "$OUT/connections-10000-$i.rss"
    stop_server
    start_server
    $BIN/boxoffice-loadgen watchers --database-url $PG/boxoffice_bench --streams 10000 --server-pid "$SERVER" --idle 20 \
      --json "$OUT/watchers-10000-$i.json"
    grep -E 'VmHWM|VmRSS' /proc/$SERVER/status > "$OUT/watchers-10000-$i.rss"
    stop_server
  done
else
  echo "ulimit -n is $(ulimit -n): the 10,000-connection runs need 20,000; skipped"
fi
trap - EXIT

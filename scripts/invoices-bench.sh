#!/usr/bin/env bash
# What issuing invoices costs the confirmations of a priced sale
# (docs/BENCHMARKS.md, "Invoices on the confirmation path"): in each run, the
# ceilings, then the same priced flash sale twice — its holds paid offline by
# the organizer, 64 at a time — once by an event that invoices every paid
# booking (19 % tax) and once by one that issues none; which goes first
# alternates between runs. RUNS times. Results in $OUT/invoices-*.json.
# Needs a release build: cargo build --release --workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench}
REQUESTS=${REQUESTS:-6000}
SEATS=${SEATS:-3000}
mkdir -p "$OUT"
. scripts/bench-lib.sh

start_server
for i in $(seq 1 "$RUNS"); do
  fresh_db boxoffice_bench_direct
  DATABASE_URL=$PG/boxoffice_bench_direct AMQP_QUEUE_PREFIX="ceil-$$-$i." AMQP_QUEUE_EXPIRES_MS=600000 \
    REDIS_KEY_PREFIX="ceil-$$:" RUST_LOG=warn $BIN/boxoffice-loadgen ceilings --json "$OUT/invoices-ceilings-$i.json"
  sale() { # name, extra flags...
    local name=$1; shift
    $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --requests "$REQUESTS" --capacity "$SEATS" \
      --concurrency 256 --price-cents 2500 --pay offline --ceilings "$OUT/invoices-ceilings-$i.json" \
      --json "$OUT/invoices-$name-$i.json" "$@"
  }
  if (( i % 2 )); then sale with; sale without --no-invoices; else sale without --no-invoices; sale with; fi
done
python3 - "$OUT" "$RUNS" <<'PY'
import json, sys
out, runs = sys.argv[1], int(sys.argv[2])
def load(name, i): return json.load(open(f"{out}/invoices-{name}-{i}.json"))
for i in range(1, runs + 1):
    with_, without = load("with", i), load("without", i)
    ceil = json.load(open(f"{out}/invoices-ceilings-{i}.json"))
    one = ceil["pg_one_tx_per_booking_per_s"]
    row = lambda r: f"{r['confirmed_per_s']:.0f} confirmed/s ({r['confirmed_per_s'] / one:.0%} of one-transaction-per-booking {one:.0f}/s), {r['paid_bookings']} paid"
    print(f"run {i}: with invoices {row(with_)}; without {row(without)};"
          f" with ÷ without {with_['confirmed_per_s'] / without['confirmed_per_s']:.2f};"
          f" invariants {all(r['invariants_ok'] for r in (with_, without))}")
PY

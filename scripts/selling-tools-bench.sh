#!/usr/bin/env bash
# Codes and quotas under an on-sale's load (docs/BENCHMARKS.md, "Codes and
# quotas"): in each run, the plain flash sale, the same sale where every buyer
# types one code of fewer uses than there are seats, and the same sale over
# two ticket types sharing one quota; ceilings measured in the same run.
# RUNS times. Results in $OUT/selling-*.json. Needs a release build:
# cargo build --release --workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench}
REQUESTS=${REQUESTS:-20000}
SEATS=${SEATS:-5000}
mkdir -p "$OUT"
. scripts/bench-lib.sh

start_server
for i in $(seq 1 "$RUNS"); do
  fresh_db boxoffice_bench_direct
  DATABASE_URL=$PG/boxoffice_bench_direct AMQP_QUEUE_PREFIX="ceil-$$-$i." AMQP_QUEUE_EXPIRES_MS=600000 \
    REDIS_KEY_PREFIX="ceil-$$:" RUST_LOG=warn $BIN/boxoffice-loadgen ceilings --json "$OUT/selling-ceilings-$i.json"
  sale() { # name, extra flags...
    local name=$1; shift
    $BIN/boxoffice-loadgen flash-sale --database-url $PG/boxoffice_bench --requests "$REQUESTS" --capacity "$SEATS" \
      --concurrency 256 --ceilings "$OUT/selling-ceilings-$i.json" --json "$OUT/selling-$name-$i.json" "$@"
  }
  sale plain
  # One code for everyone, of fewer uses than seats: it runs out, not the seats.
  sale code --code $((SEATS * 3 / 5))
  # Two types of $SEATS seats each, sharing $SEATS: the quota runs out first.
  sale quota --quota "$SEATS"
done
python3 - "$OUT" "$RUNS" <<'PY'
import json, sys
out, runs = sys.argv[1], int(sys.argv[2])
def load(name, i): return json.load(open(f"{out}/selling-{name}-{i}.json"))
for i in range(1, runs + 1):
    plain, code, quota = (load(n, i) for n in ("plain", "code", "quota"))
    ceil = json.load(open(f"{out}/selling-ceilings-{i}.json"))
    batch = ceil["pg_batch_per_s"]
    row = lambda r: f"{r['finalized_per_s']:.0f}/s ({r['finalized_per_s'] / batch:.0%} of the batch ceiling {batch:.0f}/s)"
    print(f"run {i}: plain {row(plain)}; code {row(code)}, {code['finalized_per_s'] / plain['finalized_per_s']:.2f}x plain,"
          f" {code['code_uses']} of {code['code_max_uses']} uses; quota {row(quota)},"
          f" {quota['finalized_per_s'] / plain['finalized_per_s']:.2f}x plain, {quota['quota_taken']} of {quota['quota_capacity']};"
          f" invariants {all(r['invariants_ok'] for r in (plain, code, quota))}")
PY

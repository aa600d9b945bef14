#!/usr/bin/env bash
# The on-sale at scale (docs/BENCHMARKS.md, "A million in the pre-queue"):
# for each size in SIZES, a fresh database and a fresh `boxoffice serve`, then
# `boxoffice-loadgen on-sale` with that many buyers in the pre-queue, 2,000
# more after the open, seats for half of them, about 200 buyers watching
# their place ten times a second. Results in $OUT/on-sale-<size>-<run>.json
# (and .svg), the server's log beside them (the draw's timing). Needs a
# release build: cargo build --release --workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100000 300000"}
RUNS=${RUNS:-1}
OUT=${OUT:-docs/bench/session10}
BIN=target/release
PG=postgres://postgres@127.0.0.1:5432
DB=boxoffice_onsale
mkdir -p "$OUT"
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT

for size in $SIZES; do
  for run in $(seq 1 "$RUNS"); do
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    env DATABASE_URL=$PG/$DB RATE_LIMITS=off EMAIL_VERIFICATION=off MAIL_DIR=/tmp/onsale-mail \
      RUST_LOG=warn,boxoffice::booking::allocate=info AMQP_QUEUE_PREFIX="onsale-$$-$size-$run." \
      AMQP_QUEUE_EXPIRES_MS=600000 REDIS_KEY_PREFIX="onsale-$$-$size-$run:" \
      $BIN/boxoffice serve >"$OUT/on-sale-$size-$run.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 60); do curl -fs http://127.0.0.1:8080/readyz >/dev/null && break; sleep 0.5; done
    # Time to write the buyers and exchange their tokens (about 2,500 a
    # second here), then the arrivals spread over 1 s per 2,000 buyers.
    open_in=$(( size / 2500 + 30 + size / 2000 ))
    sample=$(( size / 200 > 1 ? size / 200 : 1 ))
    $BIN/boxoffice-loadgen on-sale --database-url $PG/$DB --prequeued "$size" --later 2000 \
      --capacity $(( size / 2 )) --open-in "$open_in" --sample-every "$sample" --server-pid "$SERVER" \
      --json "$OUT/on-sale-$size-$run.json" --plot "$OUT/on-sale-$size-$run.svg" || echo "on-sale $size run $run: FAILED"
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
  done
done

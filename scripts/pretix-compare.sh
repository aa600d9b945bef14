#!/usr/bin/env bash
# Boxoffice side by side with pretix (the open-source ticket shop) on this
# machine, in one run: the same flash sale — REQUESTS order attempts for
# CAPACITY seats, closed loop at each of CONCURRENCIES clients — against
# pretix at each concurrency, then Boxoffice at each concurrency, RUNS times.
# Prints a markdown table (sell-out time and rate of both, Boxoffice ÷ pretix,
# both latency distributions); JSON results in docs/bench/pretix/.
#
#   scripts/pretix-compare.sh                        # 3,000 attempts, 500 seats, 16 and 64 clients
#   REQUESTS=300 CAPACITY=50 scripts/pretix-compare.sh   # a quick try
#
# pretix is not a dependency of the project: it is installed from PyPI into a
# virtualenv of its own outside the repository (PRETIX_VENV), with gunicorn
# and aiohttp (the load client's HTTP library); its data and configuration go
# to PRETIX_DATA. Needs a release build of Boxoffice
# (cargo build --release --workspace), python3, and PostgreSQL (trust auth,
# user postgres) and Redis on their standard local ports (RabbitMQ too, for
# Boxoffice).
#
# The pretix set-up, and why:
# - pretix as its docs describe a production install, minus the parts that
#   need other machines: PostgreSQL, Redis (cache and sessions, which pretix
#   recommends for production; without it every quota look-up and setting read
#   goes to PostgreSQL), gunicorn with PRETIX_WORKERS (4) sync workers,
#   DEBUG off, default log level.
# - No celery: with no broker configured pretix runs its background tasks
#   eagerly inside the request (after the order's transaction has committed:
#   the notification and webhook checks that follow an order). A production
#   install would hand them to celery workers — on this two-core machine those
#   would share the same cores, so the seats/s would barely move, while the
#   201 would come back a little earlier.
# - No nginx in front and no TLS, like Boxoffice here.
# - The item is free (price 0.00): pretix marks such an order paid at once
#   (payment provider "free"), so a 201 is a sold seat and no payment
#   provider or external service is involved; Boxoffice's sale is free too
#   (confirmed by its worker without a hold).
# - pretix's API answers an order synchronously (201, or 400 "There is not
#   enough quota available" when sold out). Boxoffice answers 202 (accepted
#   onto the queue) or 409 sold_out, and its worker decides the accepted
#   bookings in batches; so its sell-out time ends when the last seat's
#   confirmation committed (see scripts/boxoffice_sellout.py), and its table
#   rows show the accept latency and the accept→decided latency apart.
#
# Settings (environment): REQUESTS (3000), CAPACITY (500), CONCURRENCIES
# ("16 64"), RUNS (1), PRETIX_VERSION (2026.8: the newest 2026.8.x on PyPI;
# if there is none the newest release is used and said so), PRETIX_VENV
# (~/.cache/boxoffice-pretix-venv), PRETIX_DATA
# (~/.cache/boxoffice-pretix-data), PRETIX_WORKERS (4), PRETIX_PORT (8431),
# BOX_PORT (8432), PRETIX_REDIS_DB (11: a Redis database of its own, emptied
# before each start of pretix, since every fresh database reuses the same
# primary keys), PRETIX_REMIGRATE=1 (migrate pretix's template database again
# even if this version's exists), OUT (docs/bench/pretix).
#
# Databases: pretix is migrated once per version into a template database
# (pretix_bench_tpl_<version>, about 90 s); each run clones it into a fresh
# pretix_bench. Boxoffice gets a fresh boxoffice_vs_pretix each run, with
# queue and Redis key prefixes of its own. Each sale is a new event.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REQUESTS=${REQUESTS:-3000}
CAPACITY=${CAPACITY:-500}
CONCURRENCIES=${CONCURRENCIES:-16 64}
RUNS=${RUNS:-1}
PRETIX_VERSION=${PRETIX_VERSION:-2026.8}
PRETIX_VENV=${PRETIX_VENV:-$HOME/.cache/boxoffice-pretix-venv}
PRETIX_DATA=${PRETIX_DATA:-$HOME/.cache/boxoffice-pretix-data}
PRETIX_WORKERS=${PRETIX_WORKERS:-4}
PRETIX_PORT=${PRETIX_PORT:-8431}
BOX_PORT=${BOX_PORT:-8432}
PRETIX_REDIS_DB=${PRETIX_REDIS_DB:-11}
OUT=${OUT:-docs/bench/pretix}
BIN=target/release
PG=postgres://postgres@127.0.0.1:5432
PSQL=(psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt)
mkdir -p "$OUT" "$PRETIX_DATA"
for b in boxoffice boxoffice-loadgen; do
  [ -x "$BIN/$b" ] || { echo "$BIN/$b is missing: cargo build --release --workspace" >&2; exit 1; }
done

PRETIX_PID='' BOX_PID='' WATCH_PID=''
cleanup() {
  for p in $WATCH_PID $BOX_PID $PRETIX_PID; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $WATCH_PID $BOX_PID $PRETIX_PID; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- pretix, installed into its own virtualenv --------------------------------
install_start=$(date +%s%3N)
[ -x "$PRETIX_VENV/bin/python" ] || python3 -m venv "$PRETIX_VENV"
PY=$PRETIX_VENV/bin/python
installed=$("$PY" -c 'import pretix; print(pretix.__version__)' 2>/dev/null || true)
if [[ "$installed" != "$PRETIX_VERSION".* ]]; then
  "$PY" -m pip install -q --upgrade pip
  available=$("$PY" -m pip index versions pretix 2>/dev/null | sed -n 's/^Available versions: //p' | tr -d ',')
  if [ -z "$available" ] || printf '%s\n' $available | grep -q "^${PRETIX_VERSION//./\\.}\."; then
    spec="pretix==$PRETIX_VERSION.*" # (no answer from `pip index`, experimental: just try)
  else
    echo "!!! pretix $PRETIX_VERSION.x is not on PyPI (newest: ${available%% *}); using the newest release instead !!!" >&2
    spec=pretix
  fi
  "$PY" -m pip install -q "$spec" gunicorn aiohttp
fi
"$PY" -c 'import aiohttp, gunicorn' 2>/dev/null || "$PY" -m pip install -q gunicorn aiohttp
install_ms=$(( $(date +%s%3N) - install_start ))
install_seconds=$(( install_ms / 1000 )).$(printf %03d $(( install_ms % 1000 )))
PRETIX_INSTALLED=$("$PY" -c 'import pretix; print(pretix.__version__)')
GUNICORN_VERSION=$("$PY" -c 'import gunicorn; print(gunicorn.__version__)')
[[ "$PRETIX_INSTALLED" == "$PRETIX_VERSION".* ]] || echo "!!! benchmarking pretix $PRETIX_INSTALLED, not $PRETIX_VERSION !!!" >&2
echo "pretix $PRETIX_INSTALLED, gunicorn $GUNICORN_VERSION in $PRETIX_VENV (install/check took $install_seconds s)"

write_cfg() { # file database
  cat >"$1" <<EOF
[pretix]
instance_name=pretix-compare
url=http://127.0.0.1:$PRETIX_PORT
datadir=$PRETIX_DATA
currency=EUR
ecb_rates=off
registration=off

[django]
secret=pretix-compare-benchmark-only-$(hostname)
debug=off

[database]
backend=postgresql
name=$2
user=postgres
host=127.0.0.1
port=5432

[redis]
location=redis://127.0.0.1:6379/$PRETIX_REDIS_DB
sessions=true

[mail]
from=pretix@localhost
host=127.0.0.1
port=25
EOF
}
CFG=$PRETIX_DATA/pretix.cfg
write_cfg "$CFG" pretix_bench

# One migrated database per pretix version, cloned for each run.
TEMPLATE=pretix_bench_tpl_${PRETIX_INSTALLED//[^0-9a-zA-Z]/_}
if [ "${PRETIX_REMIGRATE:-0}" = 1 ] || [ -z "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$TEMPLATE'")" ]; then
  echo "migrating pretix's database (once per version) ..."
  migrate_start=$(date +%s)
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS pretix_bench_build" -c "DROP DATABASE IF EXISTS $TEMPLATE" \
    -c "CREATE DATABASE pretix_bench_build"
  write_cfg "$PRETIX_DATA/pretix-build.cfg" pretix_bench_build
  (cd "$PRETIX_DATA" && PRETIX_CONFIG_FILE=$PRETIX_DATA/pretix-build.cfg "$PY" -m pretix migrate >migrate.log 2>&1) \
    || { tail -20 "$PRETIX_DATA/migrate.log" >&2; exit 1; }
  (cd "$PRETIX_DATA" && PRETIX_CONFIG_FILE=$PRETIX_DATA/pretix-build.cfg "$PY" "$ROOT/scripts/pretix_setup.py" bench >/dev/null)
  "${PSQL[@]}" -c "ALTER DATABASE pretix_bench_build RENAME TO $TEMPLATE"
  echo "migrated in $(( $(date +%s) - migrate_start )) s"
fi

GUNICORN_FLAGS=(--workers "$PRETIX_WORKERS" --bind "127.0.0.1:$PRETIX_PORT" --name pretix-compare)
# gunicorn 24+ opens a control socket under ~/.gunicorn; this one needs none.
"$PRETIX_VENV/bin/gunicorn" --help | grep -q -- --no-control-socket && GUNICORN_FLAGS+=(--no-control-socket)

start_pretix() {
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS pretix_bench" -c "CREATE DATABASE pretix_bench TEMPLATE $TEMPLATE"
  redis-cli -n "$PRETIX_REDIS_DB" flushdb >/dev/null
  PRETIX_TOKEN=$(cd "$PRETIX_DATA" && PRETIX_CONFIG_FILE=$CFG "$PY" "$ROOT/scripts/pretix_setup.py" bench)
  (cd "$PRETIX_DATA" && PRETIX_CONFIG_FILE=$CFG exec "$PRETIX_VENV/bin/gunicorn" pretix.wsgi "${GUNICORN_FLAGS[@]}") \
    >"$PRETIX_DATA/gunicorn.log" 2>&1 &
  PRETIX_PID=$!
  for _ in $(seq 1 120); do
    curl -fs -o /dev/null -H "Authorization: Token $PRETIX_TOKEN" "http://127.0.0.1:$PRETIX_PORT/api/v1/organizers/" && return
    sleep 0.5
  done
  echo "pretix did not start; see $PRETIX_DATA/gunicorn.log" >&2; exit 1
}
stop_pretix() { kill -TERM "$PRETIX_PID"; wait "$PRETIX_PID" || true; PRETIX_PID=''; }

# --- Boxoffice, as scripts/bench.sh starts it --------------------------------
BOX_DB=boxoffice_vs_pretix
start_boxoffice() {
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $BOX_DB"
  env DATABASE_URL=$PG/$BOX_DB BIND_ADDR=127.0.0.1:$BOX_PORT PUBLIC_URL=http://127.0.0.1:$BOX_PORT \
    RATE_LIMITS=off EMAIL_VERIFICATION=off MAIL_DIR=/tmp/pretix-compare-mail-$$ RUST_LOG=warn \
    AMQP_QUEUE_PREFIX="vs-pretix-$$." AMQP_QUEUE_EXPIRES_MS=600000 REDIS_KEY_PREFIX="vs-pretix-$$:" \
    $BIN/boxoffice serve >/tmp/pretix-compare-boxoffice.log 2>&1 &
  BOX_PID=$!
  for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$BOX_PORT/readyz" >/dev/null && return; sleep 0.5; done
  echo "boxoffice did not start; see /tmp/pretix-compare-boxoffice.log" >&2; exit 1
}
stop_boxoffice() { kill -TERM "$BOX_PID"; wait "$BOX_PID" || true; BOX_PID=''; }

FAILED=0
boxoffice_sale() { # concurrency run
  local c=$1 i=$2 tmp=$PRETIX_DATA/boxoffice-c$1-$2
  rm -f "$tmp.ready" "$tmp.notify"
  "$PY" scripts/boxoffice_sellout.py watch --dsn "dbname=$BOX_DB user=postgres host=127.0.0.1" \
    --out "$tmp.notify" --ready "$tmp.ready" &
  WATCH_PID=$!
  for _ in $(seq 1 50); do [ -f "$tmp.ready" ] && break; sleep 0.1; done
  $BIN/boxoffice-loadgen flash-sale --base "http://127.0.0.1:$BOX_PORT" --database-url "$PG/$BOX_DB" \
    --requests "$REQUESTS" --capacity "$CAPACITY" --concurrency "$c" --json "$tmp.loadgen.json" || FAILED=1
  sleep 1 # the last notifications' way to the listener
  kill -TERM "$WATCH_PID"; wait "$WATCH_PID" || true; WATCH_PID=''
  "$PY" scripts/boxoffice_sellout.py analyze --dsn "dbname=$BOX_DB user=postgres host=127.0.0.1" \
    --loadgen-json "$tmp.loadgen.json" --notifications "$tmp.notify" --ready "$tmp.ready" --out "$OUT/boxoffice-c$c-$i.json" || FAILED=1
}

echo "{\"date\": \"$(date -u +%FT%TZ)\", \"pretix_version\": \"$PRETIX_INSTALLED\", \"gunicorn_version\": \"$GUNICORN_VERSION\"," \
  "\"gunicorn_workers\": $PRETIX_WORKERS, \"install_or_check_seconds\": ${install_seconds}," \
  "\"boxoffice_commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"," \
  "\"boxoffice_worktree_dirty\": $([ -z "$(git status --porcelain -- src loadgen migrations 2>/dev/null)" ] && echo false || echo true)," \
  "\"boxoffice_binary\": \"$(date -u -r $BIN/boxoffice +%FT%TZ) sha256:$(sha256sum $BIN/boxoffice | cut -c1-16)\", \"cpus\": $(nproc)," \
  "\"requests\": $REQUESTS, \"capacity\": $CAPACITY, \"concurrencies\": \"$CONCURRENCIES\", \"runs\": $RUNS}" >"$OUT/meta.json"

for i in $(seq 1 "$RUNS"); do
  start_pretix
  for c in $CONCURRENCIES; do
    sleep 2
    "$PY" scripts/pretix_load.py --base "http://127.0.0.1:$PRETIX_PORT" --org bench --token "$PRETIX_TOKEN" \
      --requests "$REQUESTS" --capacity "$CAPACITY" --concurrency "$c" --workers "$PRETIX_WORKERS" \
      --dsn "dbname=pretix_bench user=postgres host=127.0.0.1" --json "$OUT/pretix-c$c-$i.json" || FAILED=1
  done
  stop_pretix
  start_boxoffice
  for c in $CONCURRENCIES; do
    sleep 2
    boxoffice_sale "$c" "$i"
  done
  stop_boxoffice
done

echo
"$PY" scripts/pretix_compare_report.py "$OUT" "$RUNS" $CONCURRENCIES
[ "$FAILED" = 0 ] || { echo "some run broke an invariant or failed: see the JSON files in $OUT" >&2; exit 1; }

# Shared by the benchmark scripts (sourced, not run): the release binaries,
# a fresh database, and `boxoffice serve` started on one and stopped at exit.
BIN=target/release
PG=postgres://postgres@127.0.0.1:5432
SERVER=

fresh_db() { psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null; }

start_server() { # extra env...
  fresh_db boxoffice_bench
  env DATABASE_URL=$PG/boxoffice_bench RATE_LIMITS=off EMAIL_VERIFICATION=off MAIL_DIR=/tmp/bench-mail RUST_LOG=warn \
    AMQP_QUEUE_PREFIX="bench-$$." AMQP_QUEUE_EXPIRES_MS=600000 REDIS_KEY_PREFIX="bench-$$:" "$@" \
    $BIN/boxoffice serve >/tmp/bench-serve.log 2>&1 &
  SERVER=$!
  for _ in $(seq 1 60); do curl -fs http://127.0.0.1:8080/readyz >/dev/null && return; sleep 0.5; done
  echo "server did not start"; exit 1
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; }
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT

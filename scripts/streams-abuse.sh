#!/usr/bin/env bash
# One account opens 30 booking streams; what another buyer's stream, its
# ?wait= and /api/v1/me get meanwhile; database transactions in 10 s.
# Run from the project root after `cargo build --bin boxoffice` (docs/RELIABILITY.md).
set -u
OUT=$(mktemp)
cd "$(dirname "$0")/.."
B=http://127.0.0.1:18090
DB=boxoffice_streams_run
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB BIND_ADDR=127.0.0.1:18090 REDIS_KEY_PREFIX=streams-run: \
  AMQP_QUEUE_PREFIX=streams-run. AMQP_QUEUE_EXPIRES_MS=600000 MAIL_DIR=$(mktemp -d) RATE_LIMITS=off EMAIL_VERIFICATION=off \
  RUST_LOG=warn JWT_SECRET=streams-run-secret-0123456789abcdef0123
target/debug/boxoffice api & server=$!
trap 'kill $server' EXIT
for _ in $(seq 1 60); do curl -fs $B/readyz >/dev/null && break; sleep 1; done
j() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token() {
  curl -fs $B/api/v1/auth/register -H 'content-type: application/json' -d "{\"email\":\"$1@example.org\",\"password\":\"correct horse battery\",\"name\":\"$1\"}" >/dev/null
  curl -fs $B/api/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"$1@example.org\",\"password\":\"correct horse battery\"}" | j '["access_token"]'
}
org=$(token org); hog=$(token hog); fan=$(token fan)
start=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
ev=$(curl -fs $B/api/v1/events -H "authorization: Bearer $org" -H 'content-type: application/json' -d "{\"title\":\"Streams\",\"venue\":\"Hall\",\"starts_at\":\"$start\",\"status\":\"published\",\"ticket_types\":[{\"name\":\"A\",\"price_cents\":1,\"capacity\":10},{\"name\":\"B\",\"price_cents\":1,\"capacity\":10}]}")
a=$(echo "$ev" | j '["ticket_types"][0]["id"]'); b=$(echo "$ev" | j '["ticket_types"][1]["id"]')
book() { curl -fs $B/api/v1/bookings -H "authorization: Bearer $1" -H 'content-type: application/json' -d "{\"ticket_type_id\":\"$2\",\"quantity\":1}" | j '["id"]'; }
ha=$(book $hog $a); hb=$(book $hog $b); fb=$(book $fan $a)
xacts() { psql -h 127.0.0.1 -U postgres -Atc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$DB'"; }
before=$(xacts)
for i in $(seq 1 30); do
  id=$([ $((i % 2)) -eq 0 ] && echo $ha || echo $hb)
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 12 -H "authorization: Bearer $hog" $B/api/v1/bookings/$id/events >> "$OUT" &
done
sleep 1
fan_stream=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H "authorization: Bearer $fan" $B/api/v1/bookings/$fb/events)
t0=$(date +%s.%N); fan_wait=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $fan" "$B/api/v1/bookings/$fb?wait=2"); t1=$(date +%s.%N)
me=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $fan" $B/api/v1/me)
sleep 8
after=$(xacts)
wait_for_hog() { while [ "$(wc -l < "$OUT")" -lt 30 ]; do sleep 0.5; done; }
wait_for_hog
echo "hog's 30 streams: $(sort "$OUT" | uniq -c | tr '\n' ' ')"
echo "fan's stream: $fan_stream; fan's ?wait=2: $fan_wait after $(python3 -c "print(round($t1-$t0,1))") s; fan's /api/v1/me: $me"
echo "database transactions in the 10 s: $((after - before))"

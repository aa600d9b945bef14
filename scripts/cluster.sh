#!/usr/bin/env bash
# Boxoffice on several processes of each part, on this one machine, from
# Debian's packages: a RabbitMQ cluster of three nodes (the booking queues
# are quorum queues on all three), a Redis primary with a replica and three
# Sentinels, HAProxy in front of two APIs, two workers (each with its mailer).
# Everything listens on 127.0.0.1 only, RabbitMQ's Erlang distribution and
# epmd included.
#
#   scripts/cluster.sh up            start what is not running; print KEY=value lines
#   scripts/cluster.sh pids          NAME PID of every part (- when it is down)
#   scripts/cluster.sh restart NAME  start a part again (after it was killed)
#   scripts/cluster.sh sale [ARGS]   a flash sale through HAProxy (the load generator; ARGS go to it)
#   scripts/cluster.sh leader [QUEUE] the RabbitMQ part leading QUEUE (default: the booking queue)
#   scripts/cluster.sh primary       the Redis part the Sentinels name primary
#   scripts/cluster.sh members       the RabbitMQ nodes holding the booking queue
#   scripts/cluster.sh env           the KEY=value lines of `up` again
#   scripts/cluster.sh down          stop everything, remove its data and database
#
# Settings: CLUSTER_DIR (default /tmp/boxoffice-cluster), CLUSTER_PORT_BASE
# (default 18000: every port is this plus a fixed offset), CLUSTER_DB (default
# boxoffice_cluster), BOXOFFICE_BIN and
# LOADGEN_BIN (default: the release builds under target/, built when missing),
# PGHOST/PGUSER for the database (127.0.0.1, postgres).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CLUSTER_DIR:-/tmp/boxoffice-cluster}
BASE_PORT=${CLUSTER_PORT_BASE:-18000}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
DB_NAME=${CLUSTER_DB:-boxoffice_cluster}
DATABASE_URL="postgres://$PGUSER@$PGHOST:5432/$DB_NAME"
MASTER=boxoffice
PREFIX="boxoffice-cluster."

HAPROXY_PORT=$((BASE_PORT + 80))
api_port() { echo $((BASE_PORT + 80 + $1)); }           # api1, api2
metrics_port() { echo $((BASE_PORT + 90 + $1)); }       # api1, api2, worker1 (3), worker2 (4)
amqp_port() { echo $((BASE_PORT + 672 + $1)); }         # rabbit1..3
dist_port() { echo $((BASE_PORT + 700 + $1)); }         # rabbit1..3
redis_port() { echo $((BASE_PORT + 379 + $1)); }        # primary 1, replica 2
sentinel_port() { echo $((BASE_PORT + 390 + $1)); }     # sentinel1..3
node_name() { echo "boxoffice-$BASE_PORT-rabbit$1@localhost"; } # two clusters on other ports do not meet

AMQP_URL="amqp://guest:guest@127.0.0.1:$(amqp_port 1)/%2f,amqp://guest:guest@127.0.0.1:$(amqp_port 2)/%2f,amqp://guest:guest@127.0.0.1:$(amqp_port 3)/%2f"
REDIS_URL="redis+sentinel://127.0.0.1:$(sentinel_port 1),127.0.0.1:$(sentinel_port 2),127.0.0.1:$(sentinel_port 3)/$MASTER"
BASE="http://127.0.0.1:$HAPROXY_PORT"
PARTS="rabbit1 rabbit2 rabbit3 redis-primary redis-replica sentinel1 sentinel2 sentinel3 api1 api2 worker1 worker2 haproxy"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # what port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$2" && return 0; sleep 0.1; done
  die "$1 did not open port $2 within $3 s (logs in $DIR)"
}

apt_install() {
  log "installing $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

ensure_packages() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-sentinel >/dev/null || apt_install redis-sentinel
  command -v haproxy >/dev/null || apt_install haproxy
}

ensure_binaries() { # what: boxoffice | loadgen
  BOXOFFICE_BIN=${BOXOFFICE_BIN:-$ROOT/target/release/boxoffice}
  LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/boxoffice-loadgen}
  local bin=$BOXOFFICE_BIN
  [[ ${1:-boxoffice} == loadgen ]] && bin=$LOADGEN_BIN
  if [[ ! -x $bin ]]; then
    log "building the release binaries"
    cargo build --release --workspace >&2
  fi
}

pid_file() { echo "$DIR/$1.pid"; }

pid_of() { # the live pid of a part, or nothing
  local file
  file=$(pid_file "$1")
  [[ -s $file ]] || return 0
  local pid
  pid=$(tr -d '[:space:]' <"$file")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

running() { [[ -n $(pid_of "$1") ]]; }

# --- RabbitMQ ---------------------------------------------------------------

rabbit_env() { # n: the environment of node n, for rabbitmq-server and rabbitmqctl
  local d="$DIR/rabbit$1"
  echo "RABBITMQ_NODENAME=$(node_name "$1")"
  echo "RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf"
  echo "RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf"
  echo "RABBITMQ_MNESIA_BASE=$d/mnesia"
  echo "RABBITMQ_LOG_BASE=$d/log"
  echo "RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins"
  echo "RABBITMQ_DIST_PORT=$(dist_port "$1")"
  echo "RABBITMQ_PID_FILE=$(pid_file "rabbit$1")"
  echo "ERL_EPMD_ADDRESS=127.0.0.1"
  # The Erlang distribution listens on 127.0.0.1 only.
  echo "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  echo "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
}

start_rabbit() { # n
  local n=$1 d="$DIR/rabbit$1"
  running "rabbit$n" && return 0
  mkdir -p "$d/mnesia" "$d/log"
  echo '[].' >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf" # so the machine's own node settings are not read
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$(amqp_port "$n")
EOF
  if id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$d"; chmod 777 "$DIR"; fi
  log "starting RabbitMQ node $(node_name "$n")"
  (
    while IFS= read -r kv; do export "${kv?}"; done < <(rabbit_env "$n")
    nohup rabbitmq-server >"$d/server.out" 2>&1 &
  )
  wait_for_port "RabbitMQ node $n" "$(amqp_port "$n")" 120
}

rabbitmq_queues_n() { # n args...
  local n=$1
  shift
  (
    while IFS= read -r kv; do export "${kv?}"; done < <(rabbit_env "$n")
    rabbitmq-queues -n "$(node_name "$n")" "$@"
  )
}

# Every quorum queue with a member on every node: a queue declared while a
# node was still joining has fewer, and would lose its majority with one
# node (idempotent: grows only where a member is missing).
replicate_everywhere() {
  local n
  for n in 1 2 3; do
    running "rabbit$n" || continue
    rabbitmq_queues_n 1 grow "$(node_name "$n")" all >/dev/null 2>&1 ||
      rabbitmq_queues_n "$n" grow "$(node_name "$n")" all >/dev/null 2>&1 || true
  done
}

# Until every member of the booking queue has joined its Raft group and
# caught up (the same commit index): a member still being added when the
# leader dies can leave the other two without a majority they agree on, and
# the queue refuses every publish until the dead node returns (seen in CI:
# 120 s of 503s after the leader was killed just after `up`). At most 30 s.
wait_in_step() {
  local tries status
  for tries in $(seq 1 60); do
    status=$(rabbitmq_queues_n 1 quorum_status "${PREFIX}bookings" --formatter json 2>/dev/null) || status=
    if python3 -c '
import json, sys
members = json.loads(sys.argv[1])
states = [m.get("Raft State") for m in members]
commits = {m.get("Commit Index") for m in members}
sys.exit(0 if len(members) == 3 and all(s in ("leader", "follower") for s in states) and len(commits) == 1 else 1)
' "$status" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "cluster.sh: the booking queue's members were not all in step after 30 s: $status" >&2
}

rabbitmqctl_n() { # n args...
  local n=$1
  shift
  (
    while IFS= read -r kv; do export "${kv?}"; done < <(rabbit_env "$n")
    rabbitmqctl -n "$(node_name "$n")" "$@"
  )
}

join_rabbit() { # n: node n joins node 1's cluster (once)
  local n=$1
  if rabbitmqctl_n 1 cluster_status --formatter json 2>/dev/null | grep -q "$(node_name "$n")"; then
    return 0
  fi
  log "node $(node_name "$n") joins $(node_name 1)"
  rabbitmqctl_n "$n" stop_app >/dev/null
  rabbitmqctl_n "$n" join_cluster "$(node_name 1)" >/dev/null
  rabbitmqctl_n "$n" start_app >/dev/null
}

# --- Redis --------------------------------------------------------------------

start_redis() { # role: primary | replica
  local role=$1 n port d="$DIR/redis-$1"
  running "redis-$role" && return 0
  n=$([[ $role == primary ]] && echo 1 || echo 2)
  port=$(redis_port "$n")
  mkdir -p "$d"
  local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$d"
    --daemonize yes --pidfile "$(pid_file "redis-$role")" --logfile "$d/redis.log")
  # A node that comes back follows whoever is the primary now (Sentinel
  # reconfigures it too; this only saves it a moment as a lone primary).
  local now_primary="" s
  for s in 1 2 3; do
    now_primary=$(redis-cli -p "$(sentinel_port "$s")" sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | sed -n 2p || true)
    [[ -n $now_primary ]] && break
  done
  # Before any Sentinel knows the set: the replica follows the first primary.
  [[ -z $now_primary && $role == replica ]] && now_primary=$(redis_port 1)
  if [[ -n $now_primary && $now_primary != "$port" ]]; then
    args+=(--replicaof 127.0.0.1 "$now_primary")
  fi
  log "starting Redis $role on $port"
  redis-server "${args[@]}"
  wait_for_port "Redis $role" "$port" 20
}

start_sentinel() { # n
  local n=$1 d="$DIR/sentinel$1"
  running "sentinel$n" && return 0
  mkdir -p "$d"
  if [[ ! -s $d/sentinel.conf ]]; then
    # Sentinel rewrites this file with what it learns (replicas, the other
    # Sentinels, the current primary): written once, kept across restarts.
    cat >"$d/sentinel.conf" <<EOF
port $(sentinel_port "$n")
bind 127.0.0.1
dir $d
sentinel monitor $MASTER 127.0.0.1 $(redis_port 1) 2
sentinel down-after-milliseconds $MASTER 2000
sentinel failover-timeout $MASTER 10000
sentinel parallel-syncs $MASTER 1
EOF
  fi
  log "starting Sentinel $n"
  redis-sentinel "$d/sentinel.conf" --daemonize yes --pidfile "$(pid_file "sentinel$n")" --logfile "$d/sentinel.log"
  wait_for_port "Sentinel $n" "$(sentinel_port "$n")" 20
}

# --- Boxoffice ------------------------------------------------------------------

ensure_database() {
  if ! psql -h "$PGHOST" -U "$PGUSER" -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    log "creating the database $DB_NAME"
    psql -h "$PGHOST" -U "$PGUSER" -d postgres -qc "CREATE DATABASE $DB_NAME"
  fi
  DATABASE_URL=$DATABASE_URL "$BOXOFFICE_BIN" migrate >>"$DIR/migrate.log" 2>&1 || die "migrations failed (see $DIR/migrate.log)"
}

start_boxoffice() { # name role [port]
  local name=$1 role=$2 n=${1: -1} d="$DIR/$1"
  running "$name" && return 0
  mkdir -p "$d/mail"
  local metrics
  metrics=$([[ $role == api ]] && metrics_port "$n" || metrics_port $((n + 2)))
  log "starting $name (boxoffice $role)"
  (
    export DATABASE_URL AMQP_URL REDIS_URL
    export REDIS_KEY_PREFIX="$PREFIX" AMQP_QUEUE_PREFIX="$PREFIX" AMQP_QUEUE_TYPE=quorum
    export METRICS_ADDR="127.0.0.1:$metrics" MAIL_DIR="$d/mail" PUBLIC_URL="$BASE"
    export JWT_SECRET=${JWT_SECRET:-cluster-secret-shared-by-every-api-0123456789}
    export EMAIL_VERIFICATION=${EMAIL_VERIFICATION:-off}
    # Behind HAProxy the client's address is in X-Forwarded-For. The sales
    # run here come from one address: limits off unless asked for.
    export TRUST_PROXY_HEADERS=true RATE_LIMITS=${RATE_LIMITS:-off}
    # Four processes share one PostgreSQL of 100 connections (Debian's
    # default) with the load generator: 16 each, not the default 20.
    export DATABASE_MAX_CONNECTIONS=${DATABASE_MAX_CONNECTIONS:-16}
    [[ $role == api ]] && export BIND_ADDR="127.0.0.1:$(api_port "$n")"
    nohup "$BOXOFFICE_BIN" "$role" >"$d/out.log" 2>&1 &
    echo $! >"$(pid_file "$name")"
  )
  if [[ $role == api ]]; then wait_for_port "$name" "$(api_port "$n")" 60; fi
}

start_haproxy() {
  running haproxy && return 0
  cat >"$DIR/haproxy.cfg" <<EOF
global
  maxconn 8000
defaults
  mode http
  option forwardfor
  # A connection refused (an API that died before the health check noticed)
  # is tried on the other API: the request never reached the dead one.
  retries 3
  option redispatch 1
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  option http-keep-alive
frontend boxoffice
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend apis
backend apis
  balance roundrobin
  option httpchk GET /readyz
  default-server inter 500ms fall 2 rise 2
  server api1 127.0.0.1:$(api_port 1) check
  server api2 127.0.0.1:$(api_port 2) check
EOF
  log "starting HAProxy on $HAPROXY_PORT"
  haproxy -D -p "$(pid_file haproxy)" -f "$DIR/haproxy.cfg"
  wait_for_port HAProxy "$HAPROXY_PORT" 20
}

start_part() { # name
  case $1 in
    rabbit[123]) start_rabbit "${1: -1}" ;;
    redis-primary) start_redis primary ;;
    redis-replica) start_redis replica ;;
    sentinel[123]) start_sentinel "${1: -1}" ;;
    api[12]) start_boxoffice "$1" api ;;
    worker[12]) start_boxoffice "$1" worker ;;
    haproxy) start_haproxy ;;
    *) die "no part named $1 (parts: $PARTS)" ;;
  esac
}

wait_ready() { # the cluster answers through HAProxy
  local i
  for ((i = 0; i < 600; i++)); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the APIs are not ready behind HAProxy (logs in $DIR)"
}

print_settings() {
  echo "BASE=$BASE"
  echo "DATABASE_URL=$DATABASE_URL"
  echo "AMQP_URL=$AMQP_URL"
  echo "REDIS_URL=$REDIS_URL"
  echo "RABBITMQ_NODES=$(node_name 1) $(node_name 2) $(node_name 3)"
}

up() {
  ensure_packages
  ensure_binaries
  mkdir -p "$DIR"
  for n in 1 2 3; do start_rabbit "$n"; done
  for n in 2 3; do join_rabbit "$n"; done
  start_redis primary
  start_redis replica
  for n in 1 2 3; do start_sentinel "$n"; done
  ensure_database
  for part in api1 api2 worker1 worker2 haproxy; do start_part "$part"; done
  wait_ready
  replicate_everywhere
  wait_in_step
  print_settings
}

pids() {
  for part in $PARTS; do
    local pid
    pid=$(pid_of "$part")
    echo "$part ${pid:--}"
  done
}

down() {
  for part in haproxy api1 api2 worker1 worker2 sentinel1 sentinel2 sentinel3 redis-replica redis-primary; do
    local pid
    pid=$(pid_of "$part")
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  for n in 3 2 1; do
    if running "rabbit$n"; then
      rabbitmqctl_n "$n" shutdown >/dev/null 2>&1 || kill -9 "$(pid_of "rabbit$n")" 2>/dev/null || true
    fi
  done
  sleep 1
  for part in $PARTS; do
    local pid
    pid=$(pid_of "$part")
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
  done
  psql -h "$PGHOST" -U "$PGUSER" -d postgres -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$DIR"
  log "stopped; $DIR removed"
}

sale() {
  ensure_binaries loadgen
  wait_ready
  "$LOADGEN_BIN" flash-sale --base "$BASE" --database-url "$DATABASE_URL" "$@"
}

leader() { # the part leading a quorum queue, asked of a live node
  local queue=${1:-${PREFIX}bookings} n
  for n in 1 2 3; do
    running "rabbit$n" || continue
    local node
    node=$(rabbitmqctl_n "$n" list_queues name leader --no-table-headers --quiet 2>/dev/null |
      awk -v q="$queue" '$1 == q {print $2}') || continue
    [[ -n $node ]] || continue
    echo "rabbit$(sed -E 's/^.*-rabbit([0-9])@.*/\1/' <<<"$node")"
    return 0
  done
  die "no live node knows the leader of $queue"
}

members() { # the nodes holding a member of the booking queue
  local n
  for n in 1 2 3; do
    running "rabbit$n" || continue
    rabbitmqctl_n "$n" list_queues name members --no-table-headers --quiet 2>/dev/null |
      awk -v q="${PREFIX}bookings" '$1 == q {$1 = ""; print}' && return 0
  done
}

primary() {
  local n port
  for n in 1 2 3; do
    port=$(redis-cli -p "$(sentinel_port "$n")" sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | sed -n 2p) || continue
    [[ -n $port ]] || continue
    [[ $port == "$(redis_port 1)" ]] && echo redis-primary || echo redis-replica
    return 0
  done
  die "no Sentinel answers"
}

case ${1:-} in
  up) up ;;
  pids) pids ;;
  restart)
    [[ -n ${2:-} ]] || die "restart NAME (parts: $PARTS)"
    ensure_binaries
    start_part "$2"
    ;;
  sale) shift; sale "$@" ;;
  leader) leader "${2:-}" ;;
  members) members ;;
  primary) primary ;;
  down) down ;;
  env) print_settings ;;
  *) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

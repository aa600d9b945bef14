#!/usr/bin/env python3
"""What one sale through scripts/cluster.sh costs each part of it.

Runs the load generator's flash sale through HAProxy (arguments after `--`
go to it) and reads, before and after, every part's CPU time (/proc), the
PostgreSQL WAL position, Redis's command count and the booking messages
the APIs had confirmed by RabbitMQ (their /metrics); prints them per accepted request and per decided booking,
as JSON with --json. docs/SCALING.md's model is made from these numbers.

    scripts/cluster.sh up
    scripts/cluster_costs.py -- --requests 20000 --capacity 5000
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = os.path.join(ROOT, "scripts", "cluster.sh")
TICKS = os.sysconf("SC_CLK_TCK")


def cluster(*args):
    return subprocess.run(["bash", CLUSTER, *args], check=True, capture_output=True, text=True).stdout


def settings():
    return dict(line.split("=", 1) for line in cluster("env").splitlines() if "=" in line)


def pids():
    found = {}
    for line in cluster("pids").splitlines():
        name, pid = line.split()
        if pid != "-":
            found[name] = int(pid)
    return found


def cpu_seconds(pid):
    """User + system CPU of a process and its children that were waited for."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 (1-based) of stat.
    return sum(int(x) for x in fields[11:15]) / TICKS


def postgres_cpu():
    """CPU of every PostgreSQL process (the server is shared: an estimate)."""
    out = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True).stdout
    return sum(cpu_seconds(int(p)) for p in out.split())


def psql(database_url, sql):
    return subprocess.run(["psql", database_url, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


def redis_commands(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "stats"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    return 0


def redis_primary_port():
    s = settings()
    sentinel = s["REDIS_URL"].split("://")[1].split(",")[0].split(":")[1].split("/")[0]
    out = subprocess.run(["redis-cli", "-p", sentinel, "sentinel", "get-master-addr-by-name", "boxoffice"],
                         capture_output=True, text=True).stdout.split()
    return int(out[1])


def messages_published():
    """Booking messages the APIs had confirmed by the broker (their /metrics)."""
    base = int(os.environ.get("CLUSTER_PORT_BASE", "18000"))
    total = 0
    for port in (base + 91, base + 92):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                for line in reply.read().decode().splitlines():
                    if line.startswith("boxoffice_queue_messages_published "):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def snapshot(database_url):
    running = pids()
    return {
        "messages": messages_published(),
        "cpu": {name: cpu_seconds(pid) for name, pid in running.items()},
        "postgres_cpu": postgres_cpu(),
        "wal": int(psql(database_url, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")),
        "redis_commands": redis_commands(redis_primary_port()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the result here as JSON")
    parser.add_argument("sale", nargs=argparse.REMAINDER, help="arguments of the flash sale (after --)")
    args = parser.parse_args()
    sale_args = [a for a in args.sale if a != "--"]
    s = settings()
    before = snapshot(s["DATABASE_URL"])
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run(["bash", CLUSTER, "sale", "--json", report.name, *sale_args], check=True)
        sale = json.load(open(report.name))
    after = snapshot(s["DATABASE_URL"])

    accepted = sale["accepted"]
    decided = sale["confirmed_bookings"] + sale["rejected_bookings"]
    groups = {"api": ("api1", "api2"), "worker": ("worker1", "worker2"), "rabbitmq": ("rabbit1", "rabbit2", "rabbit3"),
              "redis": ("redis-primary", "redis-replica"), "sentinel": ("sentinel1", "sentinel2", "sentinel3"),
              "haproxy": ("haproxy",)}
    cpu = {g: sum(after["cpu"].get(n, 0) - before["cpu"].get(n, 0) for n in names) for g, names in groups.items()}
    cpu["postgresql"] = after["postgres_cpu"] - before["postgres_cpu"]
    result = {
        "sale": {k: sale[k] for k in ("requests", "accepted", "confirmed_bookings", "rejected_bookings",
                                      "accepted_per_s", "finalized_per_s", "sale_seconds", "invariants_ok")},
        "accepted": accepted,
        "decided": decided,
        "cpu_seconds": cpu,
        "cpu_ms_per_accepted": {g: round(1000 * v / max(accepted, 1), 3) for g, v in cpu.items()},
        "wal_bytes_per_decided": round((after["wal"] - before["wal"]) / max(decided, 1)),
        "amqp_messages": after["messages"] - before["messages"],
        "accepted_per_amqp_message": round(accepted / max(after["messages"] - before["messages"], 1), 2),
        "redis_commands_per_request": round((after["redis_commands"] - before["redis_commands"])
                                            / max(sale["requests"], 1), 2),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""Boxoffice's sell-out time, for scripts/pretix-compare.sh.

Boxoffice answers a booking request 202 (accepted onto the queue) and its
worker decides it later, in batches. `boxoffice-loadgen flash-sale --json`
reports accept latency, accept->final percentiles and rates, but not when
the last seat was confirmed relative to the first request, which is what the
comparison with pretix needs. This script gets it from the server's side,
without touching the Rust:

    watch    LISTEN on PostgreSQL's `booking_final` channel (the worker's
             NOTIFY, sent when a batch's transaction commits, with the ids of
             the bookings it decided) and log when each notification arrived,
             until SIGTERM/SIGINT.
    analyze  join those arrival times with the `bookings` table of the sale's
             ticket type (from the loadgen JSON) and write one JSON with the
             loadgen's results and the sell-out figures.

Sell-out seconds = (arrival of the NOTIFY that made the CAPACITY-th seat
confirmed) - (the earliest `accepted_at` of the sale's bookings, stamped by
the API when it accepted the first request). Both are this machine's wall
clock. The start is later than the client's first send by that request's
accept latency (about a millisecond at these loads), so it flatters
Boxoffice by about that much; the end is when the commit became visible to a
listener, i.e. when a buyer waiting on `GET /bookings/{id}?wait=` would learn
it. As a cross-check, the same from the table alone is reported too
(`updated_at` of the CAPACITY-th confirmed booking, which PostgreSQL stamps
with the batch transaction's *start*, so it is earlier than the commit).

Needs psycopg2 (in the benchmark's virtualenv; it comes with pretix).
"""

import argparse
import json
import math
import os
import select
import signal
import sys
import time


from bench_stats import percentiles


def watch(a):
    import psycopg2

    conn = psycopg2.connect(a.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("LISTEN booking_final")
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out = open(a.out, "w")
    with open(a.ready, "w") as f:
        f.write(json.dumps({"loadavg": [round(x, 2) for x in os.getloadavg()]}) + "\n")
    while not stop:
        if select.select([conn], [], [], 0.2) == ([], [], []):
            continue
        conn.poll()
        now = time.time()
        while conn.notifies:
            n = conn.notifies.pop(0)
            out.write(json.dumps({"t": now, "ids": n.payload.split(",")}) + "\n")
    out.close()
    conn.close()


def analyze(a):
    import psycopg2

    loadgen = json.load(open(a.loadgen_json))
    ready = json.load(open(a.ready)) if a.ready and os.path.exists(a.ready) else {}
    tt = loadgen["ticket_type_id"]
    capacity = loadgen["capacity"]
    arrived = {}
    notifications = 0
    for line in open(a.notifications):
        rec = json.loads(line)
        notifications += 1
        for i in rec["ids"]:
            arrived.setdefault(i, rec["t"])
    with psycopg2.connect(a.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT id::text, status, quantity,
                      extract(epoch FROM accepted_at)::float8, extract(epoch FROM updated_at)::float8
                 FROM bookings WHERE ticket_type_id = %s""",
            (tt,),
        )
        rows = cur.fetchall()
        cur.execute("SELECT capacity, remaining FROM ticket_types WHERE id = %s", (tt,))
        cap_db, remaining = cur.fetchone()
    violations = []
    start = min(r[3] for r in rows) if rows else None
    confirmed = [r for r in rows if r[1] == "confirmed"]
    missing = [r[0] for r in rows if r[0] not in arrived]
    if missing:
        violations.append(f"{len(missing)} bookings never announced on booking_final")
    seats_confirmed = sum(r[2] for r in confirmed)
    oversold = max(0, seats_confirmed - capacity)
    if oversold:
        violations.append(f"oversold by {oversold}")

    def sold_out_at(key):
        seats = 0
        for r in sorted(confirmed, key=key):
            seats += r[2]
            if seats >= capacity:
                return key(r)
        return None

    t_notify = sold_out_at(lambda r: arrived.get(r[0], math.inf))
    t_table = sold_out_at(lambda r: r[4])
    sellout = (t_notify - start) if t_notify is not None and math.isfinite(t_notify) else None
    decided = [(arrived[r[0]] - r[3]) * 1000 for r in rows if r[0] in arrived]
    decided_confirmed = [(arrived[r[0]] - r[3]) * 1000 for r in confirmed if r[0] in arrived]
    last_decided = max((arrived[r[0]] for r in rows if r[0] in arrived), default=None)
    result = {
        "system": "boxoffice",
        "event_id": loadgen["event_id"],
        "ticket_type_id": tt,
        "loadavg_before": ready.get("loadavg"),
        "requests": loadgen["requests"],
        "capacity": capacity,
        "concurrency": loadgen["concurrency"],
        "sold": seats_confirmed,
        "status_counts": loadgen["status_counts"],
        "sellout_seconds": sellout,
        "sellout_seats_per_s": (capacity / sellout) if sellout else None,
        "sellout_definition": "earliest accepted_at of the sale (API clock) -> arrival of the worker's "
                              "booking_final NOTIFY that confirmed the last seat (listener, same machine clock)",
        "sellout_seconds_from_table": (t_table - start) if t_table is not None else None,
        "sellout_from_table_definition": "earliest accepted_at -> updated_at of the last seat's booking "
                                         "(stamped at its batch transaction's start: earlier than the commit)",
        "all_decided_seconds": (last_decided - start) if last_decided and start else None,
        "all_answered_seconds": loadgen["sale_seconds"],
        "answers_per_s": loadgen["responses_per_s"],
        "latency_ms": {
            "accept_all_loadgen": loadgen["accept_ms"],
            "accept_to_final_loadgen": loadgen["final_ms"],
            "accept_to_decided_all": percentiles(decided),
            "accept_to_decided_confirmed": percentiles(decided_confirmed),
        },
        "notifications": notifications,
        "bookings_in_table": len(rows),
        "ticket_type": {"capacity": cap_db, "remaining": remaining},
        "oversold": oversold,
        "loadgen_invariants_ok": loadgen["invariants_ok"],
        "invariants_ok": loadgen["invariants_ok"] and not violations,
        "violations": loadgen["violations"] + violations,
        "loadgen": loadgen,
    }
    with open(a.out, "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
    print(f"boxoffice, {result['concurrency']} in flight: sold {seats_confirmed}/{capacity}, sell-out "
          f"{sellout if sellout is not None else float('nan'):.3f} s "
          f"(from the table alone {result['sellout_seconds_from_table'] or float('nan'):.3f} s), "
          f"answers {loadgen['status_counts']}, oversold {oversold}, "
          f"invariants {'ok' if result['invariants_ok'] else result['violations']}", file=sys.stderr)
    return 0 if result["invariants_ok"] else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--dsn", required=True)
    w.add_argument("--out", required=True, help="notification log (JSON lines)")
    w.add_argument("--ready", required=True, help="file written once LISTEN is in place")
    n = sub.add_parser("analyze")
    n.add_argument("--dsn", required=True)
    n.add_argument("--loadgen-json", required=True)
    n.add_argument("--notifications", required=True)
    n.add_argument("--ready", help="the watcher's ready file (load averages before the sale)")
    n.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "watch":
        watch(a)
    else:
        sys.exit(analyze(a))


if __name__ == "__main__":
    main()

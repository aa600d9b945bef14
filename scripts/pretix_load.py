"""Flash sale against pretix's REST API: the pretix side of scripts/pretix-compare.sh.

Makes a fresh event through pretix's REST API (one free item, one quota of
CAPACITY, then live), warms the workers with simulated orders (pretix's
`"simulate": true`: the whole order path, nothing written), then sends
REQUESTS order attempts with CONCURRENCY in flight (closed loop: each client
sends its next attempt when the previous one is answered), each a distinct
buyer email and one position of the item:

    POST /api/v1/organizers/{org}/events/{event}/orders/

201 is an order placed: the item is free, so pretix marks the order paid at
once (payment provider "free") and the seat is sold when the answer arrives.
400 naming the quota is sold out. Everything else is counted as an error.

Sell-out time: from the moment the first request is sent until the answer
that sold the CAPACITY-th seat is received, both on this client's clock.

Afterwards it checks in pretix's database (and through the API's quota
availability) that no more than CAPACITY seats were sold.

Needs aiohttp and psycopg2 (both in the benchmark's virtualenv; psycopg2
comes with pretix).
"""

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid

import aiohttp


from bench_stats import percentiles


class Api:
    def __init__(self, session, base, org, token):
        self.s = session
        self.root = f"{base.rstrip('/')}/api/v1/organizers/{org}"
        self.headers = {"Authorization": f"Token {token}"}

    async def call(self, method, path, body=None, expect=(200, 201)):
        async with self.s.request(method, self.root + path, json=body, headers=self.headers) as r:
            text = await r.text()
            if r.status not in expect:
                raise RuntimeError(f"{method} {path}: {r.status} {text[:500]}")
            return json.loads(text) if text else None


async def make_event(api, slug, capacity):
    await api.call("POST", "/events/", {
        "name": {"en": f"Flash sale {slug}"}, "slug": slug, "currency": "EUR",
        "date_from": "2030-06-01T20:00:00Z", "live": False,
    })
    item = await api.call("POST", f"/events/{slug}/items/", {
        "name": {"en": "Ticket"}, "default_price": "0.00", "admission": True, "active": True,
        # Like Boxoffice's ticket type: no per-order limit beyond the one seat asked for.
    })
    quota = await api.call("POST", f"/events/{slug}/quotas/", {
        "name": "Seats", "size": capacity, "items": [item["id"]], "variations": [], "subevent": None,
    })
    await api.call("PATCH", f"/events/{slug}/", {"live": True})
    return item["id"], quota["id"]


def order_body(email, item_id, simulate=False):
    body = {"email": email, "locale": "en", "sales_channel": "web", "positions": [{"item": item_id}],
            "send_email": False}
    if simulate:
        body["simulate"] = True
    return body


async def sale(api, slug, item_id, requests, concurrency, run_id):
    path = f"/events/{slug}/orders/"
    samples = [None] * requests  # (sent_s, done_s, status, kind)
    next_i = 0
    start = time.perf_counter()

    async def client():
        nonlocal next_i
        while True:
            i = next_i
            if i >= requests:
                return
            next_i += 1
            body = order_body(f"buyer-{run_id}-{i}@bench.test", item_id)
            sent = time.perf_counter() - start
            try:
                async with api.s.post(api.root + path, json=body, headers=api.headers) as r:
                    text = await r.text()
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                status, text = 0, repr(e)
            done = time.perf_counter() - start
            if status == 201:
                kind = "sold"
            elif status == 400 and "quota" in text.lower():
                kind = "sold_out"
            else:
                kind = "error"
                if sum(1 for s in samples if s and s[3] == "error") < 5:
                    print(f"  attempt {i}: {status} {text[:300]}", file=sys.stderr)
            samples[i] = (sent, done, status, kind)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return samples, time.perf_counter() - start


def check_db(dsn, org, slug, capacity):
    """Seats sold as pretix's database has them: positions of placed orders."""
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT o.status, count(DISTINCT o.id), count(p.id)
                 FROM pretixbase_order o
                 JOIN pretixbase_event e ON e.id = o.event_id
                 JOIN pretixbase_organizer g ON g.id = e.organizer_id
                 LEFT JOIN pretixbase_orderposition p ON p.order_id = o.id AND NOT p.canceled
                WHERE g.slug = %s AND e.slug = %s
                GROUP BY o.status""",
            (org, slug),
        )
        rows = cur.fetchall()
    by_status = {s: {"orders": n, "positions": p} for s, n, p in rows}
    # Pending ('n') and paid ('p') orders both take quota in pretix.
    sold = sum(v["positions"] for s, v in by_status.items() if s in ("n", "p"))
    return {"orders_by_status": by_status, "seats_taken": sold, "oversold": max(0, sold - capacity)}


async def main_async(a):
    run_id = uuid.uuid4().hex[:12]
    slug = a.event or f"sale-{run_id}"
    timeout = aiohttp.ClientTimeout(total=a.timeout)
    connector = aiohttp.TCPConnector(limit=a.concurrency, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as s:
        api = Api(s, a.base, a.org, a.token)
        item_id, quota_id = await make_event(api, slug, a.capacity)
        # Warm-up: simulated orders run pretix's whole order path in every
        # worker (imports, caches, connections) without writing anything.
        for batch in range(a.warmup // 8):
            await asyncio.gather(*(
                api.call("POST", f"/events/{slug}/orders/",
                         order_body(f"warmup-{run_id}-{batch}-{k}@bench.test", item_id, simulate=True))
                for k in range(8)))
        print(f"pretix: event {slug}, {a.requests} attempts for {a.capacity} seats, {a.concurrency} in flight",
              file=sys.stderr)
        load_before = os.getloadavg()
        samples, total_s = await sale(api, slug, item_id, a.requests, a.concurrency, run_id)
        availability = await api.call("GET", f"/events/{slug}/quotas/{quota_id}/availability/")

    status_counts = {}
    for _, _, status, _ in samples:
        status_counts[str(status)] = status_counts.get(str(status), 0) + 1
    sold = [s for s in samples if s[3] == "sold"]
    sold_done = sorted(s[1] for s in sold)
    first_sent = min(s[0] for s in samples)
    sold_out_at = sold_done[a.capacity - 1] if len(sold_done) >= a.capacity else None
    sellout_s = (sold_out_at - first_sent) if sold_out_at is not None else None
    lat = lambda rows: [(s[1] - s[0]) * 1000 for s in rows]  # noqa: E731
    db = check_db(a.dsn, a.org, slug, a.capacity) if a.dsn else None
    violations = []
    if len(sold) > a.capacity:
        violations.append(f"{len(sold)} orders answered 201 for {a.capacity} seats")
    if db and db["oversold"]:
        violations.append(f"oversold by {db['oversold']} in the database")
    if db and db["seats_taken"] != len(sold):
        violations.append(f"database has {db['seats_taken']} seats taken, clients saw {len(sold)} sold")
    errors = sum(1 for s in samples if s[3] == "error")
    if errors:
        violations.append(f"{errors} attempts answered neither 201 nor 400 sold out")

    import pretix  # the version actually installed

    result = {
        "system": "pretix",
        "pretix_version": pretix.__version__,
        "python": platform.python_version(),
        "gunicorn_workers": a.workers,
        "event": slug,
        "loadavg_before": [round(x, 2) for x in load_before],
        "requests": a.requests,
        "capacity": a.capacity,
        "concurrency": a.concurrency,
        "sold": len(sold),
        "sold_out_answers": sum(1 for s in samples if s[3] == "sold_out"),
        "errors": errors,
        "status_counts": status_counts,
        "sellout_seconds": sellout_s,
        "sellout_seats_per_s": (a.capacity / sellout_s) if sellout_s else None,
        "sellout_definition": "first request sent -> answer (201) that sold the last seat received, client clock",
        "all_answered_seconds": total_s,
        "answers_per_s": a.requests / total_s,
        "latency_ms": {
            "all": percentiles(lat(samples)),
            "sold_201": percentiles(lat(sold)),
            "sold_out_400": percentiles(lat([s for s in samples if s[3] == "sold_out"])),
        },
        "quota_availability_api": availability,
        "database_check": db,
        "oversold": (db["oversold"] if db else max(0, len(sold) - a.capacity)),
        "invariants_ok": not violations,
        "violations": violations,
    }
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="http://127.0.0.1:8431")
    p.add_argument("--org", default="bench")
    p.add_argument("--token", required=True)
    p.add_argument("--event", help="event slug (default: a fresh one)")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--capacity", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--warmup", type=int, default=32, help="simulated orders before the sale")
    p.add_argument("--timeout", type=float, default=120, help="seconds per request")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers (recorded only)")
    p.add_argument("--dsn", help="pretix's PostgreSQL database, for the oversold check")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    result = asyncio.run(main_async(a))
    out = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(out + "\n")
    lat = result["latency_ms"]
    print(f"pretix {result['pretix_version']}, {a.concurrency} in flight: sold {result['sold']}/{a.capacity}, "
          f"sell-out {result['sellout_seconds'] or float('nan'):.2f} s "
          f"({result['sellout_seats_per_s'] or float('nan'):.1f} seats/s), answers {result['status_counts']}, "
          f"p50/p99 all {lat['all']['p50']}/{lat['all']['p99']} ms, oversold {result['oversold']}, "
          f"invariants {'ok' if result['invariants_ok'] else result['violations']}", file=sys.stderr)
    sys.exit(0 if result["invariants_ok"] else 1)


if __name__ == "__main__":
    main()

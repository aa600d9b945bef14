"""The table of scripts/pretix-compare.sh: Boxoffice and pretix side by side.

    python scripts/pretix_compare_report.py DIR RUNS CONCURRENCY...

Reads DIR/pretix-c{C}-{i}.json and DIR/boxoffice-c{C}-{i}.json (i = 1..RUNS),
writes DIR/summary.json and DIR/table.md and prints the markdown. With more
than one run, each cell is the median, with min-max in brackets.
"""

import json
import statistics
import sys
from pathlib import Path


def cell(values, fmt="{:,.1f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def dist(pcts, keys=("p50", "p90", "p99", "p999", "max")):
    """'p50 / p90 / p99 / p99.9 / max' of several runs (median of each)."""
    parts = []
    for k in keys:
        vals = [p.get(k) for p in pcts if p.get(k) is not None]
        parts.append(f"{statistics.median(vals):,.1f}" if vals else "-")
    return " / ".join(parts)


def main():
    out = Path(sys.argv[1])
    runs = int(sys.argv[2])
    concurrencies = [int(c) for c in sys.argv[3:]]
    meta_file = out / "meta.json"
    summary = {"meta": json.loads(meta_file.read_text()) if meta_file.exists() else {}, "runs": runs,
               "by_concurrency": {}}
    lines = []
    meta = None
    for c in concurrencies:
        px = [json.loads((out / f"pretix-c{c}-{i}.json").read_text()) for i in range(1, runs + 1)]
        bo = [json.loads((out / f"boxoffice-c{c}-{i}.json").read_text()) for i in range(1, runs + 1)]
        meta = meta or px[0]
        ratio = [b["sellout_seats_per_s"] / p["sellout_seats_per_s"]
                 for b, p in zip(bo, px) if b["sellout_seats_per_s"] and p["sellout_seats_per_s"]]
        summary["by_concurrency"][str(c)] = {
            "pretix_sellout_seconds": [p["sellout_seconds"] for p in px],
            "pretix_sellout_seats_per_s": [p["sellout_seats_per_s"] for p in px],
            "boxoffice_sellout_seconds": [b["sellout_seconds"] for b in bo],
            "boxoffice_sellout_seats_per_s": [b["sellout_seats_per_s"] for b in bo],
            "boxoffice_sellout_seconds_from_table": [b["sellout_seconds_from_table"] for b in bo],
            "ratio_boxoffice_over_pretix": ratio,
            "pretix_all_answered_seconds": [p["all_answered_seconds"] for p in px],
            "boxoffice_all_answered_seconds": [b["all_answered_seconds"] for b in bo],
            "boxoffice_all_decided_seconds": [b["all_decided_seconds"] for b in bo],
            "oversold": {"pretix": [p["oversold"] for p in px], "boxoffice": [b["oversold"] for b in bo]},
            "loadavg_before": {"pretix": [p.get("loadavg_before") for p in px],
                               "boxoffice": [b.get("loadavg_before") for b in bo]},
            "invariants_ok": {"pretix": [p["invariants_ok"] for p in px],
                              "boxoffice": [b["invariants_ok"] for b in bo]},
        }
        n, cap = px[0]["requests"], px[0]["capacity"]
        lines += [
            f"#### {n:,} order attempts for {cap:,} seats, {c} concurrent clients"
            + (f" (median of {runs} runs, min-max in brackets)" if runs > 1 else ""),
            "",
            "| | pretix | Boxoffice | Boxoffice ÷ pretix |",
            "| --- | --- | --- | --- |",
            f"| sell-out time (s) | {cell([p['sellout_seconds'] for p in px], '{:,.2f}')} "
            f"| {cell([b['sellout_seconds'] for b in bo], '{:,.3f}')} | |",
            f"| **sell-out rate (seats/s)** | {cell([p['sellout_seats_per_s'] for p in px])} "
            f"| {cell([b['sellout_seats_per_s'] for b in bo], '{:,.0f}')} | **{cell(ratio, '{:,.1f}')} ×** |",
            f"| sell-out time, lower bound (s) | — "
            f"| {cell([b['sellout_seconds_from_table'] for b in bo], '{:,.3f}')} | |",
            f"| all {n:,} attempts answered (s) | {cell([p['all_answered_seconds'] for p in px], '{:,.2f}')} "
            f"| {cell([b['all_answered_seconds'] for b in bo], '{:,.3f}')} | |",
            f"| answers | {', '.join(f'{k}: {v}' for k, v in sorted(px[0]['status_counts'].items()))} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(bo[0]['status_counts'].items()))} | |",
            f"| seats sold / oversold | {px[0]['sold']} / {max(p['oversold'] for p in px)} "
            f"| {bo[0]['sold']} / {max(b['oversold'] for b in bo)} | |",
            "",
            "| latency (ms): p50 / p90 / p99 / p99.9 / max | |",
            "| --- | --- |",
            f"| pretix, request → answer, all attempts | {dist([p['latency_ms']['all'] for p in px])} |",
            f"| pretix, request → 201 (order placed, seat sold) | {dist([p['latency_ms']['sold_201'] for p in px])} |",
            f"| pretix, request → 400 (sold out) | {dist([p['latency_ms']['sold_out_400'] for p in px])} |",
            f"| Boxoffice, request → 202/409 answer, all attempts (loadgen; no p90) "
            f"| {dist([b['latency_ms']['accept_all_loadgen'] for b in bo], ('p50', 'p99', 'p999', 'max'))} "
            "(p50 / p99 / p99.9 / max) |",
            f"| Boxoffice, accepted → decided, all accepted (NOTIFY arrival) "
            f"| {dist([b['latency_ms']['accept_to_decided_all'] for b in bo])} |",
            f"| Boxoffice, accepted → decided, all accepted (loadgen: `updated_at`, transaction start) "
            f"| {dist([b['latency_ms']['accept_to_final_loadgen'] for b in bo], ('p50', 'p99', 'max'))} "
            "(p50 / p99 / max) |",
            f"| Boxoffice, accepted → confirmed, the {cap} sold "
            f"| {dist([b['latency_ms']['accept_to_decided_confirmed'] for b in bo])} |",
            "",
        ]
    lines += [
        f"pretix {meta['pretix_version']} (PyPI), gunicorn with {meta['gunicorn_workers']} sync workers, PostgreSQL, "
        "Redis cache, no celery (tasks run in the request); Boxoffice `serve` (API, worker, mailer in one process), "
        "release build. Both sell a free item; closed loop, each client sends its next attempt when the previous "
        "is answered.",
        "",
        "- pretix answers each order synchronously: sell-out time = first request sent → the 201 that sold the "
        "last seat received (client clock); its latency is request → answer.",
        "- Boxoffice answers 202 (accepted onto the queue) or 409 `sold_out` and decides accepted bookings in "
        "batches: sell-out time = first booking accepted (`accepted_at`) → the worker's `booking_final` NOTIFY "
        "that confirmed the last seat reached a listener (commit visible); the lower bound uses the last seat's "
        "`updated_at` (its batch transaction's start) instead. A Boxoffice buyer learns the outcome after the "
        "accept latency plus the accepted → decided latency.",
        "",
    ]
    summary["pretix_version"] = meta["pretix_version"]
    summary["gunicorn_workers"] = meta["gunicorn_workers"]
    text = "\n".join(lines)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

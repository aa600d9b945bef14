"""Latency percentiles as the benchmark scripts report them."""

import math


def percentiles(values_ms):
    """Nearest-rank percentiles (ms), as HdrHistogram reports them."""
    if not values_ms:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None, "max": None}
    v = sorted(values_ms)

    def at(q):
        return round(v[max(0, math.ceil(q * len(v)) - 1)], 3)

    return {"count": len(v), "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p999": at(0.999),
            "max": round(v[-1], 3)}

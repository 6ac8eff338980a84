"""The deploy regression report: the hour before a production deploy
against the hour after, per route, from the environment's own request
lines (services/request_log.py).

A route got markedly worse when it had at least ``MIN_REQUESTS`` requests
in both hours and, after the deploy: its p95 is more than 1.5 times and
50 ms above what it was, or its 5xx rate rose by 5 points or more, or its
queries per request more than doubled (and grew by 5 or more)."""

from . import request_log

MIN_REQUESTS = 10


def route_stats(lines):
    """{route: {"count", "p95_ms", "queries_per_request", "sql_share", "error_pct"}} of Odoo log lines."""
    routes = {}
    for line in lines:
        parsed = request_log.parse(line)
        if not isinstance(parsed, tuple) or parsed[2] in request_log.IGNORED_PATHS:
            continue
        routes.setdefault(parsed[2], []).append(parsed)
    stats = {}
    for route, requests in routes.items():
        durations = sorted(r[6] for r in requests)
        total = sum(durations)
        stats[route] = {
            "count": len(requests),
            "p95_ms": round(request_log.percentile(durations, 0.95) * 1000, 1),
            "queries_per_request": round(sum(r[4] for r in requests) / len(requests), 2),
            "sql_share": round(sum(r[5] for r in requests) / total, 3) if total else 0.0,
            "error_pct": round(100.0 * sum(1 for r in requests if r[3] >= 500) / len(requests), 1),
        }
    return stats


def compare(before_lines, after_lines):
    """{"routes": [{route, before, after, worse: [reasons]}], "worse": [routes]},
    the routes seen on both sides, the worst first."""
    before, after = route_stats(before_lines), route_stats(after_lines)
    rows = []
    for route in sorted(set(before) & set(after)):
        old, new = before[route], after[route]
        reasons = []
        if old["count"] >= MIN_REQUESTS and new["count"] >= MIN_REQUESTS:
            if new["p95_ms"] > 1.5 * old["p95_ms"] and new["p95_ms"] - old["p95_ms"] > 50:
                reasons.append("p95 %.0f -> %.0f ms" % (old["p95_ms"], new["p95_ms"]))
            if new["error_pct"] - old["error_pct"] >= 5:
                reasons.append("5xx %.1f%% -> %.1f%%" % (old["error_pct"], new["error_pct"]))
            if new["queries_per_request"] > 2 * old["queries_per_request"] and \
                    new["queries_per_request"] - old["queries_per_request"] >= 5:
                reasons.append("queries per request %.1f -> %.1f" % (old["queries_per_request"],
                                                                     new["queries_per_request"]))
        rows.append({"route": route, "before": old, "after": new, "worse": reasons})
    rows.sort(key=lambda row: (not row["worse"], -(row["after"]["p95_ms"] - row["before"]["p95_ms"])))
    return {"routes": rows, "worse": [row["route"] for row in rows if row["worse"]],
            "only_before": sorted(set(before) - set(after)), "only_after": sorted(set(after) - set(before))}

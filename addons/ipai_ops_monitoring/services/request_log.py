"""HTTP traffic from an environment's own Odoo log: Odoo logs one werkzeug
line per request with its status, query count, SQL time and the rest of
its time:

  2026-11-26 08:34:48,843 12 INFO db werkzeug: 127.0.0.1 - - [26/Nov/2026 08:34:48]
      "GET /web/login HTTP/1.1" 200 - 12 0.005 0.010

``Minutes`` folds such lines into per-minute figures: requests by status
class, response time percentiles, concurrency (requests in flight at once,
from each request's end and duration), queries per request, SQL share of
the time, the slowest routes. Other loggers' lines are not requests; a
werkzeug line that does not parse is counted, never fatal. The platform's
own health probes (``/web/health``) are left out.
"""

import calendar
import re
import time

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \d+ \w+ \S+ werkzeug: (.*)$")
REQUEST = re.compile(r'^\S+ - - \[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}|-) \S+ (\d+) ([\d.]+) ([\d.]+)')
NUMBER = re.compile(r"(?<=[/-])\d+(?=/|$|-)")
IGNORED_PATHS = {"/web/health"}
TOP_ROUTES = 5
# A line's time is cut to the millisecond and its two durations are each
# rounded to one: two requests that overlap by less than this may have run
# one after the other.
PRECISION = 0.002


def route_of(path):
    """The route of a request path: no query, ids as :id."""
    return NUMBER.sub(":id", path.split("?", 1)[0])[:200]


def parse(line):
    """(end epoch seconds with ms, method, route, status, queries, sql s,
    total s); for a werkzeug line that does not parse, its time alone (a
    float); None for any other line."""
    match = LINE.match(line)
    if not match:
        return None
    end = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1000
    request = REQUEST.match(match.group(3))
    if not request:
        return end
    method, path, status, queries, sql, rest = request.groups()
    return (end, method, route_of(path), int(status) if status != "-" else 0, int(queries), float(sql),
            float(sql) + float(rest))


def percentile(values, fraction):
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    rank = max(1, -(-len(values) * fraction // 1))
    return values[int(rank) - 1]


class Minutes:
    def __init__(self):
        self.requests = {}  # minute -> list of parsed requests
        self.unparsed = {}

    def feed(self, line):
        parsed = parse(line)
        if parsed is None:
            return
        if isinstance(parsed, float):  # a werkzeug line that is no request line, at this time
            minute = int(parsed) // 60 * 60
            self.unparsed[minute] = self.unparsed.get(minute, 0) + 1
            return
        if parsed[2] in IGNORED_PATHS:
            return
        minute = int(parsed[0]) // 60 * 60
        self.requests.setdefault(minute, []).append(parsed)

    def figures(self):
        """{minute: {req_2xx..req_5xx, requests, p50_ms, p95_ms, p99_ms,
        concurrency, queries_per_request, sql_share, routes, unparsed}}."""
        result = {}
        for minute in sorted(set(self.requests) | set(self.unparsed)):
            requests = self.requests.get(minute, [])
            counts = {"req_2xx": 0, "req_3xx": 0, "req_4xx": 0, "req_5xx": 0}
            for request in requests:
                key = "req_%dxx" % (request[3] // 100)
                if key in counts:
                    counts[key] += 1
            durations = sorted(request[6] for request in requests)
            total_time = sum(durations)
            routes = {}
            for request in requests:
                routes.setdefault(request[2], []).append(request[6])
            slowest = sorted(((max(times), route, len(times)) for route, times in routes.items()), reverse=True)
            result[minute] = dict(
                counts, requests=len(requests),
                p50_ms=_ms(percentile(durations, 0.50)), p95_ms=_ms(percentile(durations, 0.95)),
                p99_ms=_ms(percentile(durations, 0.99)), concurrency=_concurrency(requests),
                queries_per_request=round(sum(r[4] for r in requests) / len(requests), 2) if requests else None,
                sql_share=round(sum(r[5] for r in requests) / total_time, 4) if total_time else None,
                routes=[{"route": route, "max_ms": _ms(worst), "count": count}
                        for worst, route, count in slowest[:TOP_ROUTES]],
                unparsed=self.unparsed.get(minute, 0))
        return result


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def _concurrency(requests):
    """The most requests in flight at once (intervals [end - duration, end],
    less the log's precision: back-to-back requests do not count as two)."""
    edges = []
    for request in requests:
        edges.append((request[0] - max(request[6] - PRECISION, 0.0005), 1))
        edges.append((request[0], -1))
    best = current = 0
    for _at, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        current += step
        best = max(best, current)
    return best

"""HTTP load against a production through the platform's nginx, shared by
the serving benches (serving.py, swarm_deploys.py, swarm_drain.py): a free
port; ``load``, keep-alive clients over several processes (requests/s,
p50, p95, errors), and ``merge`` of several of its runs; ``Visitor``, a
request every 50 ms (failed requests, the longest gap); ``wait_answers``
until a page answers; ``rounded`` for the JSON line.
"""

import http.client
import multiprocessing
import socket
import sys
import threading
import time

import requests


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(port, host, seconds, threads, queue):
    latencies, errors = [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, failed = [], 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                conn.request("GET", "/web/login", headers={"Host": host})
                answer = conn.getresponse()
                answer.read()
                if answer.status == 200:
                    mine.append(time.monotonic() - started)
                else:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    queue.put((latencies, errors[0]))


def load(port, host, seconds, concurrency, procs):
    """``concurrency`` keep-alive clients over ``procs`` processes for
    ``seconds``: requests/s of answered 200s, p50, p95 (ms), errors."""
    queue = multiprocessing.Queue()
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    children = [multiprocessing.Process(target=_client, args=(port, host, seconds, n, queue)) for n in per if n]
    started = time.monotonic()
    for child in children:
        child.start()
    results = [queue.get() for _ in children]
    for child in children:
        child.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for lat, _e in results for x in lat)
    errors = sum(e for _lat, e in results)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0  # noqa: E731
    return {"rps": len(latencies) / elapsed, "p50_ms": pick(0.50), "p95_ms": pick(0.95), "errors": errors,
            "requests": len(latencies)}


class Visitor:
    """GET url every 50 ms (a new connection each, like a browser tab
    polling); ``failures``: what each failed request got (a status or an
    error)."""

    def __init__(self, port, host):
        self.port, self.host, self.answers, self.failures = port, host, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                answer = requests.get("http://127.0.0.1:%d/web/login" % self.port, headers={"Host": self.host},
                                      timeout=15, allow_redirects=False)
                ok, what = answer.status_code == 200, answer.status_code
            except requests.RequestException as exc:
                ok, what = False, type(exc).__name__
            self.answers.append((at, ok))
            if not ok:
                self.failures.append(what)
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def failed(self):
        return sum(1 for _at, ok in self.answers if not ok)

    def longest_gap(self):
        """Seconds from the last good answer before a failure to the next good one."""
        gap, last_ok, failing = 0.0, None, False
        for at, ok in self.answers:
            if ok:
                if failing and last_ok is not None:
                    gap = max(gap, at - last_ok)
                last_ok, failing = at, False
            else:
                failing = True
        return gap


def merge(runs):
    """One row of several equal load runs (requests/s summed over time, worst percentiles)."""
    requests_ = sum(r["requests"] for r in runs)
    seconds = sum(r["requests"] / r["rps"] for r in runs if r["rps"])
    return {"rps": requests_ / seconds if seconds else 0, "p50_ms": max(r["p50_ms"] for r in runs),
            "p95_ms": max(r["p95_ms"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "requests": requests_}


def wait_answers(port, host, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get("http://127.0.0.1:%d/web/login" % port, headers={"Host": host},
                            timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit("nothing answers on port %d" % port)


def rounded(value):
    """``value`` with its floats (in dicts too) to 3 decimals: the JSON line."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value

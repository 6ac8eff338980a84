"""A worker sizing hint from what an environment really did: how many
requests were in flight at once, memory, CPU of the cron worker. Plain
numbers in, a suggestion and its reasons out.

- HTTP workers: enough for the 95th percentile of the most requests in
  flight in a minute, plus a quarter and one spare (Odoo serves one request
  per worker); at least 2.
- Cron workers: 2 when the cron worker was busy more than half of the
  minutes' CPU at the 95th percentile, else 1.
- Memory per process: the container's memory at its 95th percentile shared
  by its processes (workers, cron workers, the master and the gevent
  process); ``limit_memory_soft`` at 1.5 times that (rounded up to 64 MB,
  at least 512 MB), ``limit_memory_hard`` a quarter above.
- Container memory: every process at its soft limit would be too much; the
  measured per-process use times the suggested processes, plus 30 %
  headroom, rounded up to 256 MB.
"""

import math

MB = 1024 * 1024
MIN_MINUTES = 60  # minutes with traffic before a hint means anything


def percentile(values, fraction):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[max(1, math.ceil(len(values) * fraction)) - 1]


def _round_up(value, step):
    return int(math.ceil(value / step) * step)


def hint(samples, workers, cron_threads):
    """``samples``: dicts with concurrency, mem_bytes, cpu_cron_pct and
    requests (one a minute); ``workers``/``cron_threads``: what runs now.
    Returns {"workers", "cron_threads", "limit_memory_soft_mb",
    "limit_memory_hard_mb", "container_memory_mb", "reasons": [...]} or
    {"reasons": [why there is no hint yet]}."""
    busy = [s for s in samples if s.get("requests")]
    if len(busy) < MIN_MINUTES:
        return {"reasons": ["%d minutes with requests measured; a hint needs %d." % (len(busy), MIN_MINUTES)]}
    concurrency = percentile([s.get("concurrency") for s in busy], 0.95) or 1
    memory = percentile([s.get("mem_bytes") for s in samples], 0.95) or 0
    cron_cpu = percentile([s.get("cpu_cron_pct") for s in samples], 0.95) or 0
    new_workers = max(2, math.ceil(concurrency * 1.25) + 1)
    new_crons = 2 if cron_cpu > 50 else 1
    processes_now = max(1, workers) + max(0, cron_threads) + 2
    per_process = memory / processes_now if memory else 256 * MB
    soft = max(512, _round_up(per_process * 1.5 / MB, 64))
    hard = _round_up(soft * 1.25, 64)
    container = _round_up(per_process * (new_workers + new_crons + 2) * 1.3 / MB, 256)
    return {
        "workers": new_workers, "cron_threads": new_crons, "limit_memory_soft_mb": soft,
        "limit_memory_hard_mb": hard, "container_memory_mb": container,
        "reasons": [
            "at most %s requests in flight in 95%% of the %d busy minutes: %d HTTP workers (now %d)"
            % (concurrency, len(busy), new_workers, workers),
            "cron worker CPU %.0f%% at the 95th percentile: %d cron workers (now %d)"
            % (cron_cpu, new_crons, cron_threads),
            "memory %.0f MB at the 95th percentile over %d processes: about %.0f MB each"
            % (memory / MB, processes_now, per_process / MB),
        ],
    }

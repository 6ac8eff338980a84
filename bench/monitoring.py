#!/usr/bin/env python3
"""What does monitoring cost: the collector's reading of containers, a 30-day graph, a /metrics scrape?

Same run, ours against a baseline each:
  collector  --containers lightweight containers of ipai-ops/odoo:18.0 (a memory limit, --procs processes of
             `sleep infinity`, no network): --rounds collections of ours (services/cgroup.py: read() plus
             processes() of each container) against --baseline-rounds of the docker SDK's
             container.stats(stream=False) per container. CPU per collection: this process
             (time.process_time) plus the daemons' (utime+stime from /proc of dockerd, and of containerd
             with its shims, which read the cgroups for dockerd); wall time. Goals: ours <= 0.2 x the
             baseline's CPU, ours < 1 % of a core when done once a minute.
  graph      a scratch database (default ipai_ops_bench_mon: ipai_ops_core and ipai_ops_monitoring) with
             one project, --envs environments, --days days of minute samples each (SQL generate_series,
             random but plausible figures; 60 % of the minutes without requests) and 13 months of hourly
             rollups (older hours by SQL, the samples' hours by the model's own _ops_roll_up, timed: it is
             the hourly cron). One environment's metrics(since="30d") (hours, ops_metric_rollup) and
             metrics(since="24h") (minutes, ops_metric_sample) as the superuser, --reps each, p50/p95;
             baseline: the same calls with the unique (environment, minute/hour) indexes dropped inside a
             transaction that is rolled back (same code, same table; the minute index stays). Goal: p95
             < 100 ms.
  /metrics   odoo-bin on a free 127.0.0.1 port (--workers 0, no cron) against the scratch database, GET
             /metrics with the admin's API key as a bearer token, --reps times: with 5 minutes of samples
             for 1 environment (baseline: how it scales), then for all --envs; /web/health as the HTTP
             stack's floor. Queries and SQL time per request from the server's werkzeug lines.
             Goal: p95 < 250 ms with 100 environments.
Containers are labelled ipai-ops.bench=monitoring and removed at the end; the database is dropped unless --keep.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/monitoring.py'
Prints a table and a JSON line.
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backup_restore import odoo_setup  # noqa: E402
from claim_throughput import free_port  # noqa: E402
from kill_recovery import odoo_cmd  # noqa: E402
from monitoring_collector import bench_collector  # noqa: E402
from monitoring_data import autocommit, create_database, fill, recent_samples  # noqa: E402

WERKZEUG = re.compile(r'"GET (\S+) HTTP/[\d.]+" (\d+) \S+ (\d+) ([\d.]+) ([\d.]+)')


def pct(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def plan_of(cr, table, column, env_id, since):
    """The scan of the graph's query (as metrics() sends it), e.g. 'Index Scan ops_metric_rollup_..._uniq'."""
    cr.execute("EXPLAIN (FORMAT JSON) SELECT * FROM %s WHERE environment_id = %%s AND %s BETWEEN "
               "(now() at time zone 'utc') - %%s::interval AND now() at time zone 'utc' ORDER BY %s"
               % (table, column, column), [env_id, since.replace("d", " days").replace("h", " hours")])
    node = cr.fetchone()[0][0]["Plan"]
    while node.get("Plans") and ("Scan" not in node["Node Type"] or node["Node Type"] == "Bitmap Heap Scan"):
        node = node["Plans"][0]
    return " ".join(filter(None, (node["Node Type"], node.get("Index Name"))))


def bench_graph(registry, env_id, reps):
    from odoo import SUPERUSER_ID, api

    rows = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        target = env["ops.environment"].browse(env_id)
        for variant in ("ours", "baseline"):
            if variant == "baseline":  # undone by the rollback below
                cr.execute("ALTER TABLE ops_metric_sample DROP CONSTRAINT ops_metric_sample_environment_minute_uniq")
                cr.execute("ALTER TABLE ops_metric_rollup DROP CONSTRAINT ops_metric_rollup_environment_hour_uniq")
            for since, table, column in (("30d", "ops_metric_rollup", "hour"), ("24h", "ops_metric_sample", "minute")):
                target.metrics(since=since)  # warm
                times = []
                for _ in range(reps):
                    env.invalidate_all()  # as a fresh request would
                    began = time.perf_counter()
                    answer = target.metrics(since=since)
                    times.append((time.perf_counter() - began) * 1000)
                rows[(variant, since)] = {
                    "p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 0.95), 2),
                    "points": len(answer["points"]), "step": answer["step"],
                    "plan": plan_of(cr, table, column, env_id, since)}
        cr.rollback()
    return {"%s_%s" % key: value for key, value in rows.items()}


def start_server(db, log):
    port = free_port()
    cmd = odoo_cmd(db, "--db-filter", "^%s$" % db, "--http-interface", "127.0.0.1", "--http-port", str(port),
                   "--gevent-port", str(free_port()), "--workers", "0", "--max-cron-threads", "0")
    proc = subprocess.Popen(cmd + ["--log-handler", "werkzeug:INFO"], stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/web/health", timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("the Odoo server did not answer /web/health (log: %s)" % log.name)


def scrape(session, url, path, reps, key, log_name):
    """reps GETs of path: client-side p50/p95 and, from the server's log, queries and SQL/other time."""
    headers = {"Authorization": "Bearer %s" % key} if key else {}
    with open(log_name) as handle:
        handle.seek(0, 2)
        times, series = [], None
        for _ in range(reps + 1):  # the first one warms up
            began = time.perf_counter()
            response = session.get(url + path, headers=headers, timeout=60)
            times.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            if path == "/metrics":
                series = len(re.findall(r"^ipai_ops_up\{", response.text, re.M))
        time.sleep(0.5)
        logged = [m.groups() for m in map(WERKZEUG.search, handle.read().splitlines()) if m and m.group(1) == path]
    logged, times = logged[1:], times[1:]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(pct(times, 0.95), 1),
            "environments": series, "queries": int(statistics.median(int(m[2]) for m in logged)) if logged else None,
            "server_sql_ms": round(statistics.median(float(m[3]) for m in logged) * 1000, 1) if logged else None,
            "server_other_ms": round(statistics.median(float(m[4]) for m in logged) * 1000, 1) if logged else None}


def bench_metrics(registry, db, ids, reps):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        key = env["res.users.apikeys"].with_user(admin).sudo()._generate(None, "bench", None)
    log = tempfile.NamedTemporaryFile("w", prefix="bench-mon-server-", suffix=".log", delete=False)
    server, url = start_server(db, log)
    rows = {}
    try:
        session = requests.Session()
        rows["floor_web_health"] = scrape(session, url, "/web/health", reps, None, log.name)
        recent_samples(registry, ids[:1])
        rows["baseline_1_env"] = scrape(session, url, "/metrics", reps, key, log.name)
        recent_samples(registry, ids[1:])
        rows["ours_%d_envs" % len(ids)] = scrape(session, url, "/metrics", reps, key, log.name)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    os.unlink(log.name)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_mon")
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--procs", type=int, default=6, help="processes per container (an Odoo with workers: 6)")
    parser.add_argument("--mem", default="256m", help="memory limit of each container")
    parser.add_argument("--rounds", type=int, default=60, help="collections of ours")
    parser.add_argument("--baseline-rounds", type=int, default=3, help="collections with docker stats")
    parser.add_argument("--envs", type=int, default=100)
    parser.add_argument("--days", type=int, default=14, help="days of minute samples")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if not args.db.startswith("ipai_ops_bench"):
        parser.error("--db must start with ipai_ops_bench (it is dropped and created again)")
    odoo_setup()
    collector = bench_collector(args)
    from odoo.modules.registry import Registry

    create_database(args.db)
    try:
        registry = Registry(args.db)
        ids, data = fill(registry, args)
        graph = bench_graph(registry, ids[len(ids) // 2], args.reps)
        scrapes = bench_metrics(registry, args.db, ids, args.reps)
    finally:
        if not args.keep:
            Registry.delete(args.db)
            autocommit("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % args.db)
    report(args, collector, data, graph, scrapes)


def report(args, collector, data, graph, scrapes):
    c, ours_envs = collector, "ours_%d_envs" % args.envs
    print("1. collector, %d containers (%d processes each, cgroup %s), CPU seconds per collection, %d CPUs"
          % (c["containers"], c["procs"], c["layout"], os.cpu_count()))
    print("%-34s %6s %9s %9s %9s %10s %9s %9s" % ("", "rounds", "wall s", "self", "dockerd", "containerd",
                                                  "total", "%core/min"))
    for name, label in (("ours", "ours: cgroup files + /proc"), ("baseline", "baseline: stats(stream=False)")):
        r = c[name]
        print("%-34s %6d %9.4f %9.5f %9.5f %10.5f %9.5f %9.4f" % (
            label, r["rounds"], r["wall_s"], r["self_cpu_s"], r["dockerd_cpu_s"], r["containerd_cpu_s"],
            r["total_cpu_s"], r["core_pct_once_a_minute"]))
    print("ours / baseline CPU = %.4f (goal <= 0.2); ours once a minute = %.4f %% of a core (goal < 1 %%)"
          % (c["ratio_cpu"], c["ours"]["core_pct_once_a_minute"]))
    print("\n2. graph of one environment, %d environments in the tables, %d reps, superuser" % (args.envs, args.reps))
    for table in ("ops_metric_sample", "ops_metric_rollup"):
        print("   %-18s %10d rows %9.1f MB" % (table, data[table]["rows"], data[table]["mb"]))
    print("   fill: samples %.1f s, older rollups %.1f s; _ops_roll_up (hourly cron) of %d hours: %.2f s, again %.2f s"
          % (data["samples_insert_s"], data["rollups_insert_s"], data["rollup_cron_rows"],
             data["rollup_cron_first_s"], data["rollup_cron_again_s"]))
    print("%-30s %6s %9s %9s  %s" % ("", "points", "p50 ms", "p95 ms", "scan"))
    for since in ("30d", "24h"):
        for variant in ("ours", "baseline"):
            r = graph["%s_%s" % (variant, since)]
            print("%-30s %6d %9.2f %9.2f  %s" % ("%s metrics(since=%s)" % (variant, since), r["points"],
                                                  r["p50_ms"], r["p95_ms"], r["plan"]))
        print("   %s: ours / baseline p95 = %.3f (goal p95 < 100 ms)" % (
            since, graph["ours_%s" % since]["p95_ms"] / graph["baseline_%s" % since]["p95_ms"]))
    print("\n3. GET over HTTP (odoo-bin --workers 0), %d requests each, admin's API key" % args.reps)
    print("%-30s %6s %9s %9s %8s %9s %9s" % ("", "envs", "p50 ms", "p95 ms", "queries", "sql ms", "other ms"))
    for name in ("floor_web_health", "baseline_1_env", ours_envs):
        r = scrapes[name]
        print("%-30s %6s %9.1f %9.1f %8s %9s %9s" % (name, r["environments"] or "-", r["p50_ms"], r["p95_ms"],
                                                      r["queries"], r["server_sql_ms"], r["server_other_ms"]))
    scale = scrapes[ours_envs]["p95_ms"] / scrapes["baseline_1_env"]["p95_ms"]
    print("   /metrics %d envs / 1 env p95 = %.2f (goal p95 < 250 ms)" % (args.envs, scale))
    print(json.dumps({"bench": "monitoring", "collector": collector, "data": data, "graph": graph,
                      "metrics": scrapes, "metrics_scale_p95": round(scale, 3)}))


if __name__ == "__main__":
    main()

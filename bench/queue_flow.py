#!/usr/bin/env python3
"""Capacity and flow: how soon a queued run is taken, how much faster runs go
with the host's workers than one at a time, whether the crons that run every
minute keep running meanwhile, and how long one project's production deploy
waits behind another project's queue.

A scratch control plane (default database ipai_ops_bench_queue, ipai_ops_core
and ipai_ops_monitoring installed once, its data root, proxy, egress proxy
and local repository root under --work), two projects on a one-addon
repository. Same run:

  latency     --latency-runs quick runs (a `stop` of an environment that has
              no container: claimed, failed at once) queued one at a time on
              an idle system, each timed from its row's creation to its
              claim (database timestamps):
              woken     one `odoo-bin ops-worker` LISTENing (the queue's NOTIFY)
              baseline  the same worker polling only (--no-listen, its poll
                        of 5 s: how workers waited before)
              p50, p95, max and the ratio of the p95.
  parallel    six development builds of two projects (three branches each):
              baseline  one after the other (one worker, one slot)
              workers   queued at once, drained by `odoo-bin ops-workers`
                        with the host's default slots (sized from its CPUs
                        and memory), while the control plane itself runs with
                        its cron threads (the monitoring collector every
                        minute): wall times, their ratio, and the minutes the
                        collector recorded for every environment running
                        during the parallel builds against the minutes it
                        should have.
  fairness    ten builds of project A queued, then project B's production
              deploy: how long B's deploy waits to be claimed against A's
              mean build (the goal: at most one build).

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/queue_flow.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backup_restore import odoo_setup  # noqa: E402
from kill_recovery import Plane, make_repo, odoo_cmd  # noqa: E402
from run_log_queries import connect, ensure_database  # noqa: E402

SLUGS = ("bench-flow-a", "bench-flow-b")
BRANCHES = ("feature/one", "feature/two", "feature/three")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(plane, work, repo_url):
    def do(env):
        env.ref("ipai_ops_core.ops_host_local").repo_roots = work
        params = env["ir.config_parameter"]
        params.set_param("ipai_ops.data_root", os.path.join(work, "data"))
        params.set_param("ipai_ops.proxy_root", os.path.join(work, "proxy"))
        params.set_param("ipai_ops.proxy_listen", "127.0.0.1:%d" % free_port())
        params.set_param("ipai_ops.egress_root", os.path.join(work, "egress"))
        params.set_param("ipai_ops.egress_proxy_port", str(free_port()))
        params.set_param("ipai_ops.mail_catcher_port", str(free_port()))
        params.set_param("ipai_ops.base_domain", "flow.bench.test")
        # Only the runs of this bench in the queue.
        env["ops.run"].search([("state", "in", ("queued", "waiting_approval"))]).cancel_run("bench")
        ids = []
        for slug in SLUGS:
            project = env["ops.project"].search([("slug", "=", slug)])
            values = {"repo_url": repo_url, "mem_limit_mb": 1024, "production_approval": False}
            if project:
                project.write(values)
            else:
                project = env["ops.project"].create(dict(values, name=slug, slug=slug))
            ids.append(project.id)
        return ids
    return plane(do)


def queue(plane, slug, kind, branch):
    return plane(lambda env: env["ops.run"].queue_run({"project": slug, "kind": kind, "branch": branch})["id"])


def wait_done(plane, run_ids, timeout=3600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = plane(lambda env: env["ops.run"].browse(run_ids).mapped("state"))
        if not set(states) & {"queued", "claimed", "running"}:
            return states
        time.sleep(1)
    sys.exit("runs %s did not finish" % run_ids)


def claimed_after(db, run_id, queued_at, timeout=60):
    """Seconds from ``queued_at`` (before the queueing transaction) to the moment its row
    leaves the queue (polled every 5 ms: the rows' own timestamps are kept to
    the second)."""
    with connect(db) as conn, conn.cursor() as cr:
        conn.autocommit = True
        while time.monotonic() - queued_at < timeout:
            cr.execute("SELECT state FROM ops_run WHERE id = %s", [run_id])
            if cr.fetchone()[0] != "queued":
                return time.monotonic() - queued_at
            time.sleep(0.005)
    sys.exit("run %d was not claimed within %d s" % (run_id, timeout))


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(plane, db, runs, listen):
    """``runs`` stops queued one at a time, an idle worker (woken or polling) taking each."""
    cmd = odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-flow-lat", "--projects", SLUGS[0],
                                        "--concurrency", "1"] + ([] if listen else ["--no-listen"])
    worker = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(8)  # registered, listening, idle
        delays = []
        for _ in range(runs):
            started = time.monotonic()  # before the queueing transaction: its own time counts too
            run_id = queue(plane, SLUGS[0], "stop", "bench/idle")
            delays.append(claimed_after(db, run_id, started))
            wait_done(plane, [run_id], timeout=120)
            time.sleep(0.3 + random.random())  # idle again, at a random point of its poll
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    return {"p50_s": statistics.median(delays), "p95_s": pct(delays, 0.95), "max_s": max(delays), "runs": runs}


def destroy_all(plane, db):
    envs = plane(lambda env: env["ops.environment"].search(
        [("project_id.slug", "in", list(SLUGS)), ("state", "not in", ("new", "destroyed"))]).mapped(
        lambda e: (e.project_id.slug, e.id)))
    ids = [plane(lambda env, s=slug, e=env_id: env["ops.run"].queue_run(
        {"project": s, "kind": "destroy", "environment_id": e})["id"]) for slug, env_id in envs]
    if ids:
        subprocess.run(odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-flow-clean", "--once",
                                                     "--projects", ",".join(SLUGS)], capture_output=True)


def builds(plane):
    return [(slug, branch) for slug in SLUGS for branch in BRANCHES]


def sequential(plane, db):
    started = time.monotonic()
    for slug, branch in builds(plane):
        run_id = queue(plane, slug, "build", branch)
        proc = subprocess.run(odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-flow-seq", "--once",
                                                            "--concurrency", "1", "--projects", slug],
                              capture_output=True, text=True)
        if plane.run(run_id)["state"] != "succeeded":
            sys.exit("a sequential build failed: %s\n%s" % (plane.run(run_id)["error_message"], proc.stderr[-2000:]))
    return time.monotonic() - started


def control_plane(db):
    """The control plane serving with its cron threads (the collector, the reconciliation...)."""
    cmd = odoo_cmd(db) + ["--http-interface", "127.0.0.1", "--http-port", str(free_port()), "--gevent-port",
                          str(free_port()), "--max-cron-threads", "2"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def start_workers(db, prefix):
    """`ops-workers` with the default slots, once every worker said it is alive: (process, slots)."""
    supervisor = subprocess.Popen(odoo_cmd(db, "ops-workers") + ["--worker-id", prefix, "--projects", ",".join(SLUGS)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  start_new_session=True)
    line = supervisor.stdout.readline()
    while not line.startswith("ops-workers: "):
        line = supervisor.stdout.readline()
    slots = int(line.split(":")[1].split()[0])
    workers_alive(db, prefix, slots)
    return supervisor, slots


def parallel(plane, db):
    supervisor, slots = start_workers(db, "bench-flow")
    try:
        started = time.monotonic()
        ids = [queue(plane, slug, "build", branch) for slug, branch in builds(plane)]
        states = wait_done(plane, ids)
        elapsed = time.monotonic() - started
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(timeout=120)
    if set(states) != {"succeeded"}:
        sys.exit("a parallel build failed: %s" % states)
    return elapsed, slots, ids


def collector_minutes(db, since, until):
    """For each environment of the bench running at ``until``: the whole
    minutes from ``since`` (or from its first build's end, if later) to
    ``until`` (epoch seconds) without a collected sample."""
    with connect(db) as conn, conn.cursor() as cr:
        cr.execute("SELECT e.id, extract(epoch FROM min(r.finished_at)) FROM ops_environment e "
                   "JOIN ops_run r ON r.environment_id = e.id AND r.state = 'succeeded' "
                   "AND r.kind IN ('build', 'deploy') WHERE e.state = 'running' AND e.project_id IN "
                   "(SELECT id FROM ops_project WHERE slug = ANY(%s)) GROUP BY e.id", [list(SLUGS)])
        ready = {env_id: float(at) for env_id, at in cr.fetchall()}
        cr.execute("SELECT environment_id, extract(epoch FROM minute)::bigint FROM ops_metric_sample "
                   "WHERE environment_id = ANY(%s)", [list(ready)])
        seen = {}
        for env_id, minute in cr.fetchall():
            seen.setdefault(env_id, set()).add(int(minute))
    last = int(until // 60) * 60 - 60  # the last whole minute before until
    expected = {env_id: range(int(max(since, at) // 60 + 1) * 60, last + 1, 60) for env_id, at in ready.items()}
    return {"environments": len(ready), "minutes": sum(len(minutes) for minutes in expected.values()),
            "missing": sum(1 for env_id, minutes in expected.items() for minute in minutes
                           if minute not in seen.get(env_id, ()))}


def workers_alive(db, prefix, count, timeout=120):
    """Wait until ``count`` workers named ``prefix``-N have said they are
    alive (registered, listening): until then the control plane's cron
    fallback would take the runs (it runs builds when no worker is alive)."""
    deadline = time.monotonic() + timeout
    with connect(db) as conn, conn.cursor() as cr:
        conn.autocommit = True
        while time.monotonic() < deadline:
            cr.execute("SELECT count(*) FROM ops_worker WHERE name LIKE %s AND stopped_at IS NULL "
                       "AND last_seen_at > now() at time zone 'utc' - interval '30 seconds'", [prefix + "-%"])
            if cr.fetchone()[0] >= count:
                return
            time.sleep(0.2)
    sys.exit("the %d workers %s-N did not start within %d s" % (count, prefix, timeout))


def fairness(plane, db, mean_build):
    supervisor, _slots = start_workers(db, "bench-fair")
    try:
        crowd = [queue(plane, SLUGS[0], "build", BRANCHES[i % len(BRANCHES)]) for i in range(10)]
        time.sleep(2)
        started = time.monotonic()
        deploy = queue(plane, SLUGS[1], "deploy", "main")
        waited = claimed_after(db, deploy, started, timeout=3600)
        wait_done(plane, [deploy])
        plane(lambda env: env["ops.run"].browse(crowd).filtered(lambda r: r.state == "queued").cancel_run("bench"))
        wait_done(plane, crowd)
        overtaken, concurrent_build = overtaking(db, deploy, crowd)
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(timeout=120)
    return {"deploy_waited_s": waited, "mean_build_s": mean_build, "in_builds": waited / mean_build,
            "overtaken_by": overtaken, "concurrent_build_s": concurrent_build,
            "in_concurrent_builds": waited / concurrent_build if concurrent_build else None}


def overtaking(db, deploy, crowd):
    """How many of the crowd's builds were claimed while the deploy waited
    (after it was queued, before it was claimed: the events' microseconds),
    and how long one of the crowd's builds took, running next to the others."""
    with connect(db) as conn, conn.cursor() as cr:
        cr.execute("SELECT payload->>'to', timestamp FROM ops_run_event WHERE run_id = %s AND kind = 'state' "
                   "AND payload->>'to' IN ('queued', 'claimed') ORDER BY id", [deploy])
        moments = dict(cr.fetchall())
        cr.execute("SELECT count(*) FROM ops_run_event WHERE run_id = ANY(%s) AND kind = 'state' "
                   "AND payload->>'to' = 'claimed' AND timestamp > %s AND timestamp < %s",
                   [crowd, moments["queued"], moments["claimed"]])
        overtaken = cr.fetchone()[0]
        cr.execute("SELECT avg(extract(epoch FROM finished_at - started_at)) FROM ops_run WHERE id = ANY(%s) "
                   "AND state = 'succeeded'", [crowd])
        concurrent = cr.fetchone()[0]
    return overtaken, float(concurrent) if concurrent else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_queue")
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work",
                                                       "queue-flow"))
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--skip-builds", action="store_true", help="the latency only")
    parser.add_argument("--fairness-only", type=float, metavar="MEAN_BUILD_S",
                        help="only the fairness phase (and the collector meanwhile), a build alone taking this long")
    args = parser.parse_args()
    ensure_database(args.db, "ipai_ops_core,ipai_ops_monitoring")
    odoo_setup()
    work = os.path.realpath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "repo"))
    for path in (work, os.path.dirname(work)):
        os.chmod(path, 0o755)  # nginx's and squid's workers read under it
    repo_url = make_repo(os.path.join(work, "repo"), name="flow.git", branches=BRANCHES)
    plane = Plane(args.db)
    configure(plane, work, repo_url)
    destroy_all(plane, args.db)
    res = {"cpus": os.cpu_count()}
    server = None
    try:
        if not args.fairness_only:
            res["woken"] = latency(plane, args.db, args.latency_runs, listen=True)
            res["polling"] = latency(plane, args.db, args.latency_runs, listen=False)
        if not args.skip_builds:
            if not args.fairness_only:
                res["sequential_s"] = sequential(plane, args.db)
                destroy_all(plane, args.db)
            server = control_plane(args.db)
            since = time.time()
            if not args.fairness_only:
                res["parallel_s"], res["slots"], _ids = parallel(plane, args.db)
                print("so far: %s" % json.dumps(res), file=sys.stderr, flush=True)
            # the control plane collects meanwhile: ten more builds keep every slot busy
            res["fairness"] = fairness(plane, args.db, args.fairness_only or res["sequential_s"] / 6)
            until = time.time()
            time.sleep(75)  # the last minute folded (the collector writes a minute once it is over)
            res["collector"] = collector_minutes(args.db, since, until)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            server = None
    finally:
        if server:
            os.killpg(server.pid, signal.SIGKILL)
        destroy_all(plane, args.db)
        shutil.rmtree(work, ignore_errors=True)

    if not args.fairness_only:
        w, p = res["woken"], res["polling"]
        res["latency_p95_ratio"] = w["p95_s"] / p["p95_s"] if p["p95_s"] else None
        print("queued -> claimed on an idle system, %d runs each" % args.latency_runs)
        print("%-48s %8s %8s %8s" % ("", "p50 s", "p95 s", "max s"))
        for label, row in (("woken by the queue (LISTEN/NOTIFY)", w), ("baseline: polling every 5 s", p)):
            print("%-48s %8.3f %8.3f %8.3f" % (label, row["p50_s"], row["p95_s"], row["max_s"]))
        print("p95 woken / polling: %.3fx (goal: p95 under 1 s)" % res["latency_p95_ratio"])
    if not args.skip_builds and not args.fairness_only:
        res["parallel_ratio"] = res["parallel_s"] / res["sequential_s"]
        print("six development builds of two projects, %d CPUs" % res["cpus"])
        print("%-48s %8.0f s" % ("baseline: one after the other", res["sequential_s"]))
        print("%-48s %8.0f s" % ("queued at once, %d worker processes (default)" % res["slots"], res["parallel_s"]))
        print("parallel / sequential: %.2fx (goal <= 0.6)" % res["parallel_ratio"])
    if not args.skip_builds:
        c = res["collector"]
        print("collector meanwhile (parallel and fairness phases): %d environments, %d environment-minutes, "
              "%d missing (goal 0)" % (c["environments"], c["minutes"], c["missing"]))
        f = res["fairness"]
        print("B's production deploy behind A's ten builds: waited %.0f s; a build takes %.0f s alone, %.0f s next "
              "to the others: %.2f builds; A's builds claimed while it waited: %d (goal: at most one build, 0 "
              "overtaking)" % (f["deploy_waited_s"], f["mean_build_s"], f["concurrent_build_s"] or 0,
                               f["in_concurrent_builds"] or 0, f["overtaken_by"]))
    print(json.dumps({"bench": "queue_flow", **{k: (round(v, 3) if isinstance(v, float) else v)
                                               for k, v in res.items()}}))


if __name__ == "__main__":
    main()

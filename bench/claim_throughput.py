#!/usr/bin/env python3
"""How many runs per second can 8 workers claim?

Claims are ``ops.run.claim_next_run`` (SELECT ... FOR UPDATE SKIP LOCKED in a
short transaction of its own). Same run, same queue size, one after the other:
  xml-rpc     8 threads, each an XML-RPC client of a real Odoo server
              (odoo-bin on a free port of 127.0.0.1, --workers 0), logged in
              as an Ops Worker user with an API key: what remote workers get
  in-process  8 threads of this process, each claiming through its own
              registry cursor as the superuser (what `ops-worker` slots do)
Before each phase N runs of kind "start" are queued on project "bench-claims"
(spread over 4 environments); every phase checks that all were claimed, each
exactly once (client side, claimed_by, and the runs' "claimed" events), then
cancels them. The scratch database (default ipai_ops_bench_claims) gets
ipai_ops_core once and is reused.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/claim_throughput.py --runs 400'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backup_restore import odoo_setup  # noqa: E402
from run_log_queries import REPO, ensure_database  # noqa: E402

SLUG = "bench-claims"
LOGIN = "bench_claims_worker"
ENVIRONMENTS = 4


def setup(registry):
    """The worker user (a fresh API key), the project and its environments; the queue emptied."""
    from odoo import SUPERUSER_ID, Command, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        user = env["res.users"].with_context(active_test=False).search([("login", "=", LOGIN)])
        if not user:
            user = env["res.users"].create({"name": "Bench claims worker", "login": LOGIN, "groups_id": [
                Command.set([env.ref("base.group_user").id, env.ref("ipai_ops_core.group_ops_worker").id])]})
        env["res.users.apikeys"].sudo().search([("user_id", "=", user.id)]).unlink()
        key = env["res.users.apikeys"].with_user(user).sudo()._generate(None, "bench", None)
        project = env["ops.project"].search([("slug", "=", SLUG)])
        if not project:
            project = env["ops.project"].create({"name": "Bench claims", "slug": SLUG,
                                                 "repo_url": "https://git.example.com/bench/claims.git"})
        for i in range(ENVIRONMENTS):
            branch = "feature/claims-%d" % i
            if not project.environment_ids.filtered(lambda e, b=branch: e.branch == b):
                env["ops.environment"].create({"project_id": project.id, "branch": branch})
        cancel_leftovers(env)
        return {"uid": user.id, "key": key}


def cancel_leftovers(env):
    """Runs of the bench's project still queued or claimed (an interrupted earlier run)."""
    left = env["ops.run"].search([("project_id.slug", "=", SLUG), ("state", "in", ("queued", "claimed"))])
    if left:
        left.cancel_run("bench: left over by an earlier run")
    return len(left)


def queue(registry, count):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        envs = env["ops.project"].search([("slug", "=", SLUG)]).environment_ids.sorted("id")
        ids = [env["ops.run"].queue_run({"project": SLUG, "kind": "start",
                                         "environment_id": envs[i % len(envs)].id})["id"] for i in range(count)]
        return ids


def verify_and_cancel(registry, ids, claimed):
    """All queued runs claimed, each once; then cancel them (events are append-only: runs stay)."""
    from odoo import SUPERUSER_ID, api

    got = [run_id for _worker, run_id in claimed]
    problems = []
    if len(got) != len(set(got)):
        problems.append("%d runs claimed twice by the clients" % (len(got) - len(set(got))))
    if set(got) != set(ids):
        problems.append("%d queued runs not claimed, %d foreign" % (len(set(ids) - set(got)), len(set(got) - set(ids))))
    with registry.cursor() as cr:
        cr.execute("SELECT id, state, claimed_by FROM ops_run WHERE id = ANY(%s)", [ids])
        rows = {run_id: (state, by) for run_id, state, by in cr.fetchall()}
        wrong = [w for w, run_id in claimed if rows.get(run_id) != ("claimed", w)]
        if wrong:
            problems.append("%d runs not claimed by the worker that got them" % len(wrong))
        cr.execute("""SELECT count(*), count(DISTINCT run_id) FROM ops_run_event
                       WHERE run_id = ANY(%s) AND kind = 'state' AND payload->>'to' = 'claimed'""", [ids])
        events, distinct = cr.fetchone()
        if (events, distinct) != (len(ids), len(ids)):
            problems.append("%d 'claimed' events on %d runs, for %d runs queued" % (events, distinct, len(ids)))
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["ops.run"].browse(ids).filtered(lambda r: r.state in ("queued", "claimed")).cancel_run("bench done")
    return problems


def race(workers, claim_once):
    """``workers`` threads call claim_once(worker index) until it returns False.
    Returns (seconds, [(worker, run id)], per-claim latencies in ms, errors)."""
    claimed, latencies, errors = [], [], []
    lock, barrier = threading.Lock(), threading.Barrier(workers + 1)

    def work(index):
        barrier.wait()
        while True:
            start = time.perf_counter()
            try:
                result = claim_once(index)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(repr(exc)[:300])
                if len(errors) > 20:
                    return
                continue
            elapsed = (time.perf_counter() - start) * 1000
            if not result:
                return
            with lock:
                claimed.append((result["claimed_by"], result["id"]))
                latencies.append(elapsed)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, claimed, latencies, errors


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db, log):
    odoo = os.path.join(os.environ["ODOO_SRC"], "odoo-bin")
    port = free_port()
    proc = subprocess.Popen([
        sys.executable, odoo, "-c", os.environ["OPS_CONF"],
        "--addons-path", "%s/addons,%s/addons" % (os.environ["ODOO_SRC"], REPO),
        "--db_host", os.environ["OPS_DB_HOST"], "--db_port", os.environ["OPS_DB_PORT"],
        "--db_user", os.environ["OPS_DB_USER"], "-d", db, "--db-filter", "^%s$" % db,
        "--http-interface", "127.0.0.1", "--http-port", str(port), "--gevent-port", str(free_port()),
        "--workers", "0", "--max-cron-threads", "0", "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            sys.exit("the Odoo server exited (log: %s)" % log.name)
        try:
            if requests.get(url + "/web/health", timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit("the Odoo server did not answer /web/health in 120s")
        time.sleep(0.5)


def summary(name, runs, seconds, latencies, errors, problems):
    lat = sorted(latencies) or [0.0]
    return {"phase": name, "runs": runs, "seconds": round(seconds, 3), "claims_per_s": round(runs / seconds, 1),
            "p50_ms": round(statistics.median(lat), 2), "p95_ms": round(lat[max(0, int(len(lat) * 0.95) - 1)], 2),
            "errors": len(errors), "ok": not problems and not errors, "problems": problems + errors[:3]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_claims")
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    ensure_database(args.db)
    odoo_setup()
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(args.db)
    creds = setup(registry)
    rows = []

    # 1. XML-RPC, against a real server
    log = tempfile.NamedTemporaryFile(prefix="bench-claims-server-", suffix=".log", delete=False)
    server, url = start_server(args.db, log)
    try:
        uid = xmlrpc.client.ServerProxy(url + "/xmlrpc/2/common").authenticate(args.db, LOGIN, creds["key"], {})
        assert uid == creds["uid"], "the API key did not authenticate (%r)" % uid
        proxies = [xmlrpc.client.ServerProxy(url + "/xmlrpc/2/object", allow_none=True) for _ in range(args.workers)]

        def rpc_claim(index):
            return proxies[index].execute_kw(args.db, uid, creds["key"], "ops.run", "claim_next_run",
                                             ["bench-rpc/%d" % index], {"projects": [SLUG]})

        ids = queue(registry, args.runs)
        seconds, claimed, latencies, errors = race(args.workers, rpc_claim)
        rows.append(summary("xml-rpc", len(claimed), seconds, latencies, errors,
                            verify_and_cancel(registry, ids, claimed)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    os.unlink(log.name)  # kept when the server failed (its path is printed)

    # 2. in-process, registry cursors of this process
    def local_claim(index):
        with registry.cursor() as cr:
            return api.Environment(cr, SUPERUSER_ID, {})["ops.run"].claim_next_run(
                "bench-local/%d" % index, projects=[SLUG])

    ids = queue(registry, args.runs)
    seconds, claimed, latencies, errors = race(args.workers, local_claim)
    rows.append(summary("in-process", len(claimed), seconds, latencies, errors,
                        verify_and_cancel(registry, ids, claimed)))

    ratio = rows[1]["claims_per_s"] / rows[0]["claims_per_s"] if rows[0]["claims_per_s"] else None
    print("%d workers claiming %d queued runs each phase, %d CPUs" % (args.workers, args.runs, os.cpu_count()))
    print("%-11s %6s %9s %9s %8s %8s %6s %5s" % ("phase", "runs", "seconds", "claims/s", "p50 ms", "p95 ms",
                                               "errors", "ok"))
    for r in rows:
        print("%-11s %6d %9.2f %9.1f %8.2f %8.2f %6d %5s" % (r["phase"], r["runs"], r["seconds"], r["claims_per_s"],
                                                          r["p50_ms"], r["p95_ms"], r["errors"], r["ok"]))
        for problem in r["problems"]:
            print("  ! %s" % problem)
    print("in-process / xml-rpc = %.2f (claims/s)" % ratio)
    print(json.dumps({"bench": "claim_throughput", "workers": args.workers, "runs": args.runs,
                      "results": rows, "inprocess_over_xmlrpc": round(ratio, 3)}))
    if not all(r["ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

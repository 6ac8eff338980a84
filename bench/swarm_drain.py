#!/usr/bin/env python3
"""Time to drain a swarm node of --envs environments (issue: time to drain a
node with 3 environments), through the whole platform, against moving them
onto it one by one (same run), and whether a visitor notices.

Set up as bench/swarm_deploys.py (its functions, on --envs projects
bench-drn1, ...): a scratch control plane (default ipai_ops_bench_swarm_drain,
its roots in --work), the swarm lab (scripts/swarm-lab.sh up 2) as host "lab"
of runtime "swarm" (the runtime image copied to its manager, timed apart), a
production of each project on main deployed there by the real worker
(`odoo-bin ops-worker --host lab --projects SLUG --once`; not counted). Then
the lab's second engine joins as node "w1" (ops.host.action_swarm_nodes, its
Docker endpoint set) and:

  moves  move_to_node("w1") of each production, one after the other (queued
         -> the worker's exit, succeeded); a move that copies the image to w1
         says "Copied image ... to node w1" (counted);
  drain  ops.host.node.drain() of w1, then worker passes (--concurrency slots)
         until each move run ended: seconds from the drain call; then one
         _cron_reconcile(), w1's availability (expected "drain") and each
         production's swarm_node (expected: the manager's node).
With --own-disk, w1 keeps the environments' files on a disk of its own
(the lab's second engine in a mount namespace): each move there and back
copies the data directory engine to engine, and the table adds the copies'
seconds and megabytes (from the runs' logs).
Meanwhile a visitor per production (GET /web/login every 50 ms through the
platform's nginx): requests, failed ones (goal 0), the longest gap. At the
end, also after a failure: w1 active again, then destroy runs, templates,
host relay, nginx, the lab, the scratch database and --work go.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/swarm_drain.py'
Prints a table and a JSON line. Root (the lab makes network namespaces);
the lab is shared with the tests: run it when no test runs.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import swarm_deploys as sd  # noqa: E402 - its setup, deploys and cleanup work on the projects of sd.PROJECTS
import swarm_lab  # noqa: E402 - the lab's commands
from backup_restore import odoo_setup  # noqa: E402
from http_load import free_port, rounded, wait_answers  # noqa: E402
from kill_recovery import Plane, make_repo, odoo_cmd  # noqa: E402
from run_log_queries import ensure_database  # noqa: E402

ENDED = ("succeeded", "failed", "canceled")
COPIED = re.compile(r"Copied (?:the data directory|its filestore) from node \S+ to node \S+: ([\d.]+) MB in ([\d.]+) s")


def copies(plane, run_ids):
    """What the runs' logs say they copied between the nodes' disks: (MB, seconds), summed."""
    found = [COPIED.search(line) for run_id in run_ids for line in sd.run_log(plane, run_id).splitlines()]
    return sum(float(m.group(1)) for m in found if m), sum(float(m.group(2)) for m in found if m)


def run_all(plane, db, slugs, run_ids, concurrency, timeout):
    """`ops-worker --once` passes (``concurrency`` slots, every project) until each run of ``run_ids`` ended."""
    cmd = odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-drain", "--host", "lab", "--projects", ",".join(slugs),
                                        "--concurrency", str(concurrency), "--once"]
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60, deadline - time.monotonic()))
        if proc.returncode != 0 or "Traceback" in proc.stdout + proc.stderr:
            raise RuntimeError("the drain's worker failed:\n%s" % (proc.stdout + proc.stderr)[-3000:])
        states = plane(lambda env: {run.id: run.state for run in env["ops.run"].browse(run_ids)})
        if all(state in ENDED for state in states.values()):
            return states
        if time.monotonic() > deadline:
            raise RuntimeError("the drain's runs did not end within %d s: %s" % (timeout, states))
        time.sleep(0.5)


def nodes(plane, host_id):
    return {n["name"]: n for n in plane(lambda env: env["ops.host.node"].search_read(
        [("host_id", "=", host_id)], ["name", "hostname", "state", "availability", "draining", "environment_count"]))}


def where(plane, env_ids):
    return plane(lambda env: env["ops.environment"].browse(env_ids).read(["swarm_node", "state", "node_lost"]))


def move(plane, db, slug, env_id):
    """One move of a production to w1, executed by the worker: {id, wall_s, run_s, copied}."""
    started = time.monotonic()
    run_id = plane(lambda env: env["ops.environment"].browse(env_id).move_to_node("w1")["id"])
    sd.run_worker(db, slug, "lab")
    wall, run, log = time.monotonic() - started, plane.run(run_id), sd.run_log(plane, run_id)
    if run["state"] != "succeeded":
        raise RuntimeError("the move of %s (run %d) ended %s: %s\n%s" % (slug, run_id, run["state"],
                                                                         run["error_message"], log[-4000:]))
    copied = bool(re.search(r"Copied image \S+ to node w1\b", log))
    return {"id": run_id, "wall_s": wall, "run_s": run["duration"], "copied": copied}


@contextlib.contextmanager
def visitors(port, prods, row):
    """An http_load.Visitor per production meanwhile; their requests, failed ones and longest gap into ``row``."""
    with contextlib.ExitStack() as stack:
        seen = [stack.enter_context(sd.Visitor(port, p["hostname"])) for p in prods]
        time.sleep(1)
        yield
        time.sleep(1)
    row.update(requests=sum(len(v.answers) for v in seen), failed=sum(v.failed() for v in seen),
               longest_gap_s=max(v.longest_gap() for v in seen), failures=[f for v in seen for f in v.failures][:10])


def measure(plane, db, args, lab, listen_port, res):
    slugs = [slug for slug, _host in sd.PROJECTS.values()]
    res["deploy_s"] = [sd.deploy(plane, db, kind)["wall_s"] for kind in sd.PROJECTS]  # 1. the productions
    prods = [sd.production(plane, slug) for slug in slugs]
    for prod in prods:
        wait_answers(listen_port, prod["hostname"], timeout=60)
    ids, own = [p["id"] for p in prods], lab["manager"].own_node()
    swarm_lab.worker(lab, images=())  # 2. node w1: joined, recorded, its engine known
    host_id = plane(lambda env: env["ops.host"].search([("name", "=", "lab")]).id)
    plane(lambda env: env["ops.host"].browse(host_id).action_swarm_nodes())
    found = nodes(plane, host_id)
    if set(found) != {own, "w1"} or found["w1"]["state"] != "ready":
        raise RuntimeError("the lab's nodes are not %s and a ready w1: %s" % (own, found))
    res["w1_id"] = w1 = found["w1"]["id"]  # its engine; not draining (a kept database's earlier run)
    plane(lambda env: env["ops.host.node"].browse(w1).write({"docker_url": lab["engines"][1][0], "draining": False,
                                                               "storage": "own" if args.own_disk else "shared"}))
    res["moves"] = moves = {}  # 3. the baseline: one by one
    with visitors(listen_port, prods, moves):
        started = time.monotonic()
        runs = [move(plane, db, slug, env_id) for slug, env_id in zip(slugs, ids, strict=True)]
        moves["wall_s"] = time.monotonic() - started
    moves["copy_mb"], moves["copy_s"] = copies(plane, [r["id"] for r in runs])
    moves.update(runs=[rounded(r) for r in runs], first_s=runs[0]["wall_s"], copies=sum(r["copied"] for r in runs),
                 run_s_sum=sum(r["run_s"] or 0 for r in runs), rest_median_s=sd.median([r["wall_s"] for r in runs[1:]]))
    on_w1 = [e["swarm_node"] for e in where(plane, ids)]
    if on_w1 != ["w1"] * len(ids):
        raise RuntimeError("the productions are not all on w1 after the moves: %s" % on_w1)
    res["drain"] = drain = {"concurrency": args.concurrency or args.envs}  # 4. the figure
    with visitors(listen_port, prods, drain):
        started = time.monotonic()
        queued = plane(lambda env: env["ops.host.node"].browse(w1).drain())
        if not queued:
            raise RuntimeError("the drain of w1 queued nothing")
        states = run_all(plane, db, slugs, [r["id"] for r in queued], drain["concurrency"], args.timeout)
        drain["wall_s"] = time.monotonic() - started
    runs = [plane.run(run_id) for run_id in states]
    drain["copy_mb"], drain["copy_s"] = copies(plane, list(states))
    drain.update(runs=len(runs), states=sorted(states.values()), run_s_max=max(r["duration"] or 0 for r in runs),
                 environments=sorted(r["environment_id"] for r in runs) == sorted(ids),
                 availability_before_reconcile=nodes(plane, host_id)["w1"]["availability"])
    started = time.monotonic()
    plane(lambda env: env["ops.environment"]._cron_reconcile())
    drain["reconcile_s"] = time.monotonic() - started
    after, ended = nodes(plane, host_id)["w1"], where(plane, ids)
    drain.update(availability=after["availability"], draining=after["draining"], left_on_w1=after["environment_count"],
                 manager_node=own, on_manager=sum(e["swarm_node"] == own for e in ended),
                 ended=[(e["swarm_node"], e["state"], e["node_lost"]) for e in ended])
    failed = [r for r in runs if r["state"] != "succeeded"]
    if failed:
        raise RuntimeError("drain runs did not succeed: %s\n%s" % (
            [(r["id"], r["state"], r["error_message"]) for r in failed], sd.run_log(plane, failed[0]["id"])[-4000:]))


def finish(plane, db, args, work, project_ids, res, errors):
    """w1 active again (before the lab goes), then swarm_deploys' cleanup."""
    try:
        if res.get("w1_id"):
            plane(lambda env: env["ops.host.node"].browse(res["w1_id"]).action_activate())
    except Exception as exc:  # noqa: BLE001 - the cleanup goes on; reported
        errors.append("activating w1: %s" % exc)
    sd.cleanup(plane, db, args, work, project_ids, errors)


def report(res, args):
    m, d, n = res["moves"], res["drain"], args.envs
    res.update(ratio=d["wall_s"] / m["wall_s"], per_env_moves_s=m["wall_s"] / n, per_env_drain_s=d["wall_s"] / n)
    print("drain of node w1 with %d productions of one-addon projects (containers of %d MB, %.1f CPU), %d CPUs; "
          "the runtime image copied to the lab's manager in %.1f s, the %d deploys took %.1f s (not counted)" % (
              n, args.mem_mb, args.cpus, res["cpus"], res["image_copy_s"], n, sum(res["deploy_s"])))
    print("w1's storage: %s" % ("its own disk (the data directories copied engine to engine)" if res["w1_storage"] ==
                                "own" else "shared with the platform (nothing copied)"))
    print("%-48s %9s %9s %7s %12s" % ("step (wall clock)", "seconds", "requests", "failed", "longest gap"))
    print("%-48s %9.1f" % ("first move to w1 (its image copied there)", m["first_s"]))
    if m["rest_median_s"] is not None:
        print("%-48s %9.1f" % ("next moves to w1, median of %d" % (n - 1), m["rest_median_s"]))
    copied = "%d images copied" % m["copies"]
    for label, row in (("%d moves to w1, one by one (%s)" % (n, copied), m),
                       ("drain of w1 (%d runs, %d slots)" % (d["runs"], d["concurrency"]), d)):
        print("%-48s %9.1f %9d %7d %11.1fs" % (label, row["wall_s"], row["requests"], row["failed"],
                                                row["longest_gap_s"]))
    print("per environment: moves %.1f s, drain %.1f s; drain / moves %.2f (runs' own: moves %.0f s summed, the "
          "drain's longest %.0f s)" % (res["per_env_moves_s"], res["per_env_drain_s"], res["ratio"], m["run_s_sum"],
                                       d["run_s_max"]))
    if res["w1_storage"] == "own":
        print("copies between the disks: moves %.1f MB in %.1f s, drain %.1f MB in %.1f s" % (
            m["copy_mb"], m["copy_s"], d["copy_mb"], d["copy_s"]))
    print("reconciliation %.1f s: w1 %s -> %s (draining %s, %d environments left); on the manager's node %s: %d of %d"
          % (d["reconcile_s"], d["availability_before_reconcile"], d["availability"], d["draining"], d["left_on_w1"],
             d["manager_node"], d["on_manager"], n))
    print(json.dumps(dict(rounded(res), bench="swarm_drain")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_swarm_drain")
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work",
                                                       "swarm-drain"))
    parser.add_argument("--envs", type=int, default=3, help="projects, each a production on w1 to drain (1+)")
    parser.add_argument("--concurrency", type=int, help="the drain's worker slots (default: --envs)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds the drain's runs may take")
    parser.add_argument("--own-disk", action="store_true", help="w1 keeps the environments' files on its own disk")
    parser.add_argument("--mem-mb", type=int, default=1024)
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database (its install) for next time")
    args = parser.parse_args()
    sd.PROJECTS.clear()  # swarm_deploys' configure, deploy and destroy_all work on these
    sd.PROJECTS.update({"drain %d" % i: ("bench-drn%d" % i, "lab") for i in range(1, args.envs + 1)})
    began = time.monotonic()
    ensure_database(args.db)
    odoo_setup()
    work = os.path.realpath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "repo"))
    for path in (work, os.path.dirname(work)):
        os.chmod(path, 0o755)  # nginx's workers (nobody) walk to the pages and the doors under it
    repo_url = make_repo(os.path.join(work, "repo"), name="drain.git", branches=())
    listen_port = free_port()
    plane, project_ids, errors = Plane(args.db), [], []
    res = {"cpus": os.cpu_count(), "envs": args.envs, "mem_mb": args.mem_mb, "cpu_limit": args.cpus,
           "w1_storage": "own" if args.own_disk else "shared"}
    failed = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM)"))  # the cleanup below still runs
    try:
        lab = swarm_lab.up(own_disk=os.path.join(work, "data", "filestore"))
        started = time.monotonic()
        swarm_lab.runtime_image(lab)
        res["image_copy_s"] = time.monotonic() - started
        project_ids = list(sd.configure(plane, work, repo_url, "127.0.0.1:%d" % listen_port, lab["engines"][0][0],
                                        args.mem_mb, args.cpus).values())
        sd.destroy_all(plane, args.db, errors)  # what an interrupted earlier run left
        measure(plane, args.db, args, lab, listen_port, res)
    except Exception:  # noqa: BLE001 - cleaned up below, then reported
        failed = traceback.format_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one stops at once
        finish(plane, args.db, args, work, project_ids, res, errors)
    res["cleanup_errors"], res["total_s"] = errors, time.monotonic() - began
    if failed:
        print(json.dumps(res, default=str), file=sys.stderr)
        sys.exit("the bench failed:\n%s\ncleanup errors: %s" % (failed, errors))
    report(res, args)


if __name__ == "__main__":
    main()

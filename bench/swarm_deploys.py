#!/usr/bin/env python3
"""Project deploys on a swarm host vs a plain Docker host, through the whole
platform: the first deploy, code-only redeploys, and whether a visitor
notices them (issue 28).

One scratch control plane (default database ipai_ops_bench_swarm_deploys,
ipai_ops_core installed once; its data root, proxy, egress proxy and local
repository root point into --work), one repository (one addon), two projects
with a production on main, same run:

  bench-swd  on host "local": the machine's own engine (plain containers);
  bench-sws  on host "lab": the swarm lab (scripts/swarm-lab.sh up 2, tests/
             swarm_lab.py), recorded as an ops.host of runtime "swarm"; the
             runtime image copied there first (timed apart).

Every run is queued on the control plane and executed by the real worker,
`odoo-bin ops-worker --host HOST --projects SLUG --once`:

  deploy     the first deploy (database created, the addon installed, the
             server started, the front door switched): seconds from queued
             to the worker's exit with the run succeeded (wall clock), and
             the run's own started -> finished (whole seconds);
  redeploy   --redeploys code-only deploys of the same commit, one after
             the other (a new container or unit next to the old one, the
             switch, the old one removed): the median of each, same clocks;
  visitor    a GET /web/login every 50 ms through the platform's nginx (on
             127.0.0.1, the production's hostname as the Host header) during
             each project's redeploys: requests, failed ones (goal 0 on
             swarm), the longest gap.
Docker first, then swarm, for each step. Containers of --mem-mb and --cpus.
At the end: destroy runs, the templates, the host relay, nginx, the lab,
the scratch database and --work go, also after a failure.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/swarm_deploys.py'
Prints a table and a JSON line. Root (the lab makes network namespaces);
the lab is shared with the tests: run it when no test runs.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import swarm_lab  # noqa: E402 - the lab's commands
from backup_restore import odoo_setup  # noqa: E402
from http_load import Visitor, free_port, rounded, wait_answers  # noqa: E402
from kill_recovery import Plane, drop_templates, make_repo, odoo_cmd  # noqa: E402
from run_log_queries import connect, ensure_database  # noqa: E402
from serving import BASE_DOMAIN  # noqa: E402

PROJECTS = {"docker": ("bench-swd", "local"), "swarm": ("bench-sws", "lab")}


def run_worker(db, slug, host, timeout=1500):
    cmd = odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-%s" % slug, "--host", host, "--projects", slug,
                                        "--once"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or "Traceback" in proc.stdout + proc.stderr:
        raise RuntimeError("the worker of %s failed:\n%s" % (slug, (proc.stdout + proc.stderr)[-3000:]))


def run_log(plane, run_id):
    with plane.registry.cursor() as cr:
        cr.execute("SELECT message FROM ops_run_log WHERE run_id = %s ORDER BY id", [run_id])
        return "\n".join(message for (message,) in cr.fetchall())


def configure(plane, work, repo_url, listen, lab_url, mem_mb, cpus):
    """The control plane's roots in ``work``, the lab as swarm host "lab", the two projects."""
    def do(env):
        env.ref("ipai_ops_core.ops_host_local").repo_roots = work
        params = env["ir.config_parameter"]
        for key, value in (("data_root", os.path.join(work, "data")), ("egress_root", os.path.join(work, "egress")),
                           ("egress_proxy_port", str(free_port())), ("proxy_root", os.path.join(work, "proxy")),
                           ("proxy_listen", listen), ("base_domain", BASE_DOMAIN)):
            params.set_param("ipai_ops.%s" % key, value)
        hosts = env["ops.host"].with_context(active_test=False)
        lab = hosts.search([("name", "=", "lab")])
        values = {"docker_url": lab_url, "runtime_kind": "swarm", "active": True}
        if lab:
            lab.write(values)
        else:
            hosts.create(dict(values, name="lab"))
        ids = {}
        for kind, (slug, _host) in PROJECTS.items():
            project = env["ops.project"].search([("slug", "=", slug)])
            values = {"repo_url": repo_url, "mem_limit_mb": mem_mb, "cpu_limit": cpus, "production_approval": False}
            if project:
                project.write(values)
            else:
                project = env["ops.project"].create(dict(values, name="Bench %s deploys" % kind, slug=slug))
            ids[kind] = project.id
        env["ops.environment"]._ops_refresh_hostnames()
        return ids
    return plane(do)


def production(plane, slug):
    return plane(lambda env: env["ops.environment"].search(
        [("project_id.slug", "=", slug), ("branch", "=", "main"), ("state", "!=", "destroyed")]).read(
        ["id", "hostname", "host", "state", "container_id", "upstream_socket", "effective_runtime"])[0])


def deploy(plane, db, kind):
    """One deploy run of main, executed by the worker of the project's host: {wall_s, run_s}."""
    slug, host = PROJECTS[kind]
    started = time.monotonic()
    run_id = plane(lambda env: env["ops.run"].queue_run({"project": slug, "kind": "deploy", "branch": "main"})["id"])
    run_worker(db, slug, host)
    wall = time.monotonic() - started
    run = plane.run(run_id)
    if run["state"] != "succeeded":
        raise RuntimeError("the %s deploy (run %d) ended %s: %s\n%s" % (
            kind, run_id, run["state"], run["error_message"], run_log(plane, run_id)[-4000:]))
    return {"wall_s": wall, "run_s": run["duration"]}


def destroy_all(plane, db, errors):
    for slug, host in PROJECTS.values():
        try:
            envs = plane(lambda env, slug=slug: env["ops.environment"].search(
                [("project_id.slug", "=", slug), ("state", "not in", ("new", "destroyed"))]).ids)
            for env_id in envs:
                plane(lambda env, slug=slug, env_id=env_id: env["ops.run"].queue_run(
                    {"project": slug, "kind": "destroy", "environment_id": env_id}))
            if envs:
                run_worker(db, slug, host)
            left = plane(lambda env, envs=envs: env["ops.environment"].search_count(
                [("id", "in", envs), ("state", "!=", "destroyed")]))
            if left:
                errors.append("%s: %d environment(s) not destroyed" % (slug, left))
        except Exception as exc:  # noqa: BLE001 - cleanup goes on; reported
            errors.append("destroying %s: %s" % (slug, exc))


def median(values):
    return statistics.median(values) if values else None


def measure(plane, db, args, listen_port, res):
    for kind in PROJECTS:  # 1. the first deploys
        res[kind] = {"first": deploy(plane, db, kind)}
        prod = production(plane, PROJECTS[kind][0])
        wait_answers(listen_port, prod["hostname"], timeout=60)
        res[kind].update(hostname=prod["hostname"], host=prod["host"], runtime=prod["effective_runtime"],
                         upstream_socket=bool(prod["upstream_socket"]))
    for kind in PROJECTS:  # 2. code-only redeploys under a visitor
        prod = production(plane, PROJECTS[kind][0])
        runs = []
        with Visitor(listen_port, prod["hostname"]) as visitor:
            time.sleep(1)
            for _ in range(args.redeploys):
                runs.append(deploy(plane, db, kind))
            time.sleep(1)
        after = production(plane, PROJECTS[kind][0])
        res[kind]["redeploy"] = {
            "count": len(runs), "wall_s": median([r["wall_s"] for r in runs]),
            "run_s": median([r["run_s"] for r in runs]), "wall_s_max": max(r["wall_s"] for r in runs),
            "requests": len(visitor.answers), "failed": visitor.failed(), "longest_gap_s": visitor.longest_gap(),
            "failures": visitor.failures[:10], "container_changed": after["container_id"] != prod["container_id"]}


def cleanup(plane, db, args, work, project_ids, errors):
    from odoo.addons.ipai_ops_core.services import naming, nginx, swarm_gateway

    namespace = naming.namespace_for(db)
    steps = [("destroy runs", lambda: destroy_all(plane, db, errors))]
    for project_id in project_ids:
        steps.append(("templates", lambda project_id=project_id: drop_templates(
            namespace, project_id, work, naming.template_role_name(namespace, project_id))))
    steps += [("host relay", lambda: swarm_gateway.HostRelay(os.path.join(work, "doors", namespace)).stop()),
              ("nginx", lambda: nginx.stop(os.path.join(work, "proxy"))),
              ("egress proxy", lambda: os.path.exists(os.path.join(work, "egress", "run", "squid.pid")) and
               subprocess.run(["squid", "-f", os.path.join(work, "egress", "squid.conf"), "-k", "shutdown"],
                              check=False, capture_output=True, timeout=60)),
              ("swarm lab", swarm_lab.down)]
    if not args.keep_db:
        steps.append(("scratch database", lambda: drop_database(db)))
    steps.append(("work directory", lambda: shutil.rmtree(work, ignore_errors=True)))
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - every step runs; reported
            errors.append("%s: %s" % (name, exc))


def drop_database(db):
    import odoo
    from odoo.modules.registry import Registry

    Registry.delete(db)
    odoo.sql_db.close_db(db)
    conn = connect("postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
    conn.close()


def report(res, args):
    d, s = res["docker"], res["swarm"]
    for step in ("first", "redeploy"):
        res["%s_ratio" % step] = s[step]["wall_s"] / d[step]["wall_s"]
        res["%s_run_ratio" % step] = s[step]["run_s"] / d[step]["run_s"] if d[step]["run_s"] else None
    print("production of a one-addon project (containers of %d MB, %.1f CPU), %d CPUs; the runtime image copied to "
          "the lab's manager in %.1f s (not counted)" % (args.mem_mb, args.cpus, res["cpus"], res["image_copy_s"]))
    print("%-44s %10s %10s %7s" % ("seconds (queued -> succeeded, the worker's)", "docker", "swarm", "ratio"))
    print("%-44s %10.1f %10.1f %7.2f" % ("first deploy", d["first"]["wall_s"], s["first"]["wall_s"],
                                         res["first_ratio"]))
    print("%-44s %10.1f %10.1f %7.2f" % ("  the run itself (started -> finished)", d["first"]["run_s"],
                                         s["first"]["run_s"], res["first_run_ratio"] or 0))
    print("%-44s %10.1f %10.1f %7.2f" % ("code-only redeploy, median of %d" % args.redeploys,
                                         d["redeploy"]["wall_s"], s["redeploy"]["wall_s"], res["redeploy_ratio"]))
    print("%-44s %10.1f %10.1f %7.2f" % ("  the run itself (started -> finished)", d["redeploy"]["run_s"],
                                         s["redeploy"]["run_s"], res["redeploy_run_ratio"] or 0))
    print("%-44s %10.1f %10.1f" % ("  slowest redeploy", d["redeploy"]["wall_s_max"], s["redeploy"]["wall_s_max"]))
    print("%-44s %10s %10s %12s" % ("a visitor every 50 ms during the redeploys", "requests", "failed", "longest gap"))
    for kind, row in (("docker", d), ("swarm", s)):
        r = row["redeploy"]
        print("%-44s %10d %10d %11.1fs" % ("%d %s redeploys" % (r["count"], kind), r["requests"], r["failed"],
                                           r["longest_gap_s"]))

    print(json.dumps(dict(rounded(res), bench="swarm_deploys")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_swarm_deploys")
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work",
                                                       "swarm-deploys"))
    parser.add_argument("--redeploys", type=int, default=10)
    parser.add_argument("--mem-mb", type=int, default=1024)
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database (its install) for next time")
    args = parser.parse_args()
    began = time.monotonic()
    ensure_database(args.db)
    odoo_setup()
    work = os.path.realpath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "repo"))
    for path in (work, os.path.dirname(work)):
        os.chmod(path, 0o755)  # nginx's workers (nobody) walk to the pages and the doors under it
    repo_url = make_repo(os.path.join(work, "repo"), name="deploys.git", branches=())
    listen_port = free_port()
    plane, project_ids, errors = Plane(args.db), [], []
    res = {"cpus": os.cpu_count(), "redeploys": args.redeploys, "mem_mb": args.mem_mb, "cpu_limit": args.cpus}
    failed = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM)"))  # the cleanup below still runs
    try:
        lab = swarm_lab.up()
        started = time.monotonic()
        swarm_lab.runtime_image(lab)
        res["image_copy_s"] = time.monotonic() - started
        project_ids = list(configure(plane, work, repo_url, "127.0.0.1:%d" % listen_port, lab["engines"][0][0],
                                     args.mem_mb, args.cpus).values())
        destroy_all(plane, args.db, errors)  # what an interrupted earlier run left
        measure(plane, args.db, args, listen_port, res)
    except Exception:  # noqa: BLE001 - cleaned up below, then reported
        failed = traceback.format_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one stops at once
        cleanup(plane, args.db, args, work, project_ids, errors)
    res["cleanup_errors"], res["total_s"] = errors, time.monotonic() - began
    if failed:
        print(json.dumps(res, default=str), file=sys.stderr)
        sys.exit("the bench failed:\n%s\ncleanup errors: %s" % (failed, errors))
    report(res, args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Serving production: the environment's own network vs the host's, prefork
workers behind the platform's nginx vs one threaded process, and switches
nobody notices vs stop-then-start.

A project "bench-serve" (a one-addon repository, containers of 2 CPUs and
2 GB) gets a real production through `odoo-bin ops-worker --once` (first
deploy: prefork, HTTP workers sized from the container, a cron worker, the
gevent process, on the environment's own Docker network) behind the
platform's nginx on a free 127.0.0.1 port, its hostname
main.bench-serve.bench.test sent as the Host header. Same run:

  throughput  --concurrency clients (threads over --procs processes, one
              keep-alive connection each) GET /web/login for --seconds:
              network   through nginx to the production container on its
                        own network (its address on the bridge);
              host net  baseline: the same image, command, database and
                        configuration file in a twin container on the
                        host's network (how every environment ran before),
                        through the same nginx (a second name of the same
                        configuration, to 127.0.0.1:its port); measured
                        turn about with the first, twice each;
              single    the same twin as one threaded process (--workers
                        0), asked directly on its port (Odoo before prefork).
              requests/s, p50, p95 of each and the ratios.
  redeploys   a visitor GETs /web/login through nginx every 50 ms while
              --redeploys code-only production deploys run one after the
              other (each a new container next to the old one, the switch,
              the old one drained and removed): failed requests, and the
              platform's own figure of each switch (traffic on the new
              container N s after it answered, from the run log);
              baseline  the same visitor on a host-network twin's port
                        while it is replaced by stop-then-start (a new
                        container of the same image and command on the same
                        port once the old one stopped): failed requests and
                        the longest gap.

Scratch database (default ipai_ops_bench_serving, ipai_ops_core installed
once); its data root, proxy, egress proxy and local repository root point
into --work; everything is destroyed at the end.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/serving.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import docker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from backup_restore import odoo_setup  # noqa: E402
from hostnet import host_network_binds  # noqa: E402
from http_load import Visitor, free_port, load, merge, rounded, wait_answers  # noqa: E402
from kill_recovery import Plane, drop_templates, make_repo, odoo_cmd  # noqa: E402
from run_log_queries import ensure_database  # noqa: E402

SLUG = "bench-serve"
BASE_DOMAIN = "bench.test"
HOSTNAME = "main.%s.%s" % (SLUG, BASE_DOMAIN)
HOST_TWIN = "host-network.%s.%s" % (SLUG, BASE_DOMAIN)
TWIN_CONF = "/run/ipai-ops-bench-serving"  # the twins' configuration files (root only)


def run_worker(db):
    cmd = odoo_cmd(db, "ops-worker") + ["--worker-id", "bench-serve", "--projects", SLUG, "--once"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0 or "Traceback" in proc.stdout + proc.stderr:
        sys.exit("the worker failed:\n" + (proc.stdout + proc.stderr)[-3000:])


# -- nginx -----------------------------------------------------------------

def bench_nginx(work, listen_port, prod, host_port, host_gevent):
    """The platform's own nginx configuration, with a second name served by
    the host-network twin: both rows of the throughput table go through the
    same nginx, the same settings, the same port."""
    from odoo.addons.ipai_ops_core.services import nginx, nginx_config

    servers = [{"names": [HOSTNAME], "address": prod["container_ip"], "port": prod["port"],
                "ws_port": prod["gevent_port"] or None},
               {"names": [HOST_TWIN], "address": "127.0.0.1", "port": host_port, "ws_port": host_gevent}]
    listen = "127.0.0.1:%d" % listen_port
    nginx.apply(os.path.join(work, "proxy"), nginx_config.render(listen, servers), listen=listen)


# -- containers --------------------------------------------------------------

def twin(container_id, port, single_process, gevent_port=None):
    """A container of the same image, mounts (configuration file, filestore,
    addons) and command as ``container_id``, on the host's network (as every
    environment ran before it had a network of its own), on 127.0.0.1:``port``
    (and ``gevent_port``); with ``single_process``, run as before prefork
    (one threaded process). Its configuration file names the database server
    at its network's gateway, an address of this host: reached over the
    loopback from here."""
    client = docker.from_env()
    source = client.containers.get(container_id)
    command = list(source.attrs["Config"]["Cmd"])
    for flag, value in (("--http-port", str(port)), ("--http-interface", "127.0.0.1"),
                        ("--workers", "0" if single_process else None),
                        ("--max-cron-threads", "0" if single_process else None),
                        ("--gevent-port", "0" if single_process else str(gevent_port or free_port()))):
        if value is not None and flag in command:
            command[command.index(flag) + 1] = value
    return client.containers.run(
        source.attrs["Config"]["Image"], command, detach=True, network_mode="host",
        volumes=host_network_binds(source, os.path.join(TWIN_CONF, str(port))), name="bench-serve-twin-%d" % port,
        labels={"ipai-ops.bench": "serving"}, mem_limit=source.attrs["HostConfig"]["Memory"] or None,
        nano_cpus=source.attrs["HostConfig"]["NanoCpus"] or None)


def remove_twins():
    for container in docker.from_env().containers.list(all=True, filters={"label": "ipai-ops.bench=serving"}):
        container.remove(force=True)
    shutil.rmtree(TWIN_CONF, ignore_errors=True)


# -- the platform --------------------------------------------------------------

def configure(plane, work, repo_url, listen):
    def do(env):
        env.ref("ipai_ops_core.ops_host_local").repo_roots = work
        params = env["ir.config_parameter"]
        params.set_param("ipai_ops.data_root", os.path.join(work, "data"))
        params.set_param("ipai_ops.egress_root", os.path.join(work, "egress"))
        params.set_param("ipai_ops.egress_proxy_port", str(free_port()))
        params.set_param("ipai_ops.proxy_root", os.path.join(work, "proxy"))
        params.set_param("ipai_ops.proxy_listen", listen)
        params.set_param("ipai_ops.base_domain", BASE_DOMAIN)
        project = env["ops.project"].search([("slug", "=", SLUG)])
        values = {"repo_url": repo_url, "mem_limit_mb": 2048, "cpu_limit": 2.0, "production_approval": False}
        if project:
            project.write(values)
        else:
            project = env["ops.project"].create(dict(values, name="Bench serving", slug=SLUG))
        env["ops.environment"]._ops_refresh_hostnames()
        return project.id
    return plane(do)


def destroy_all(plane, db):
    envs = plane(lambda env: env["ops.environment"].search(
        [("project_id.slug", "=", SLUG), ("state", "not in", ("new", "destroyed"))]).ids)
    for env_id in envs:
        plane(lambda env, env_id=env_id: env["ops.run"].queue_run(
            {"project": SLUG, "kind": "destroy", "environment_id": env_id}))
    if envs:
        run_worker(db)


def production(plane):
    return plane(lambda env: env["ops.environment"].search(
        [("project_id.slug", "=", SLUG), ("branch", "=", "main"), ("state", "!=", "destroyed")]).read(
        ["id", "port", "container_id", "container_ip", "gevent_port", "url", "effective_runtime"])[0])


def deploy(plane, db):
    run_id = plane(lambda env: env["ops.run"].queue_run({"project": SLUG, "kind": "deploy", "branch": "main"})["id"])
    run_worker(db)
    run = plane.run(run_id)
    if run["state"] != "succeeded":
        sys.exit("deploy failed: %s" % run["error_message"])
    with plane.registry.cursor() as cr:
        cr.execute("SELECT message FROM ops_run_log WHERE run_id = %s AND position('traffic on the new container' "
                   "in message) > 0", [run_id])
        row = cr.fetchone()
    match = row and re.search(r"traffic on the new container ([0-9.]+)s after it answered", row[0])
    return float(match.group(1)) if match else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_serving")
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work",
                                                       "serving"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--procs", type=int, default=4, help="client processes sharing the concurrency")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--redeploys", type=int, default=10)
    args = parser.parse_args()
    ensure_database(args.db)
    odoo_setup()
    from odoo.addons.ipai_ops_core.services import naming, nginx

    namespace = naming.namespace_for(args.db)
    work = os.path.realpath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "repo"))
    for path in (work, os.path.dirname(work)):
        os.chmod(path, 0o755)  # nginx's workers (nobody) read the pages under it
    repo_url = make_repo(os.path.join(work, "repo"), name="serve.git", branches=())
    listen_port = free_port()
    plane = Plane(args.db)
    project_id = configure(plane, work, repo_url, "127.0.0.1:%d" % listen_port)
    remove_twins()
    destroy_all(plane, args.db)
    res = {"concurrency": args.concurrency, "seconds": args.seconds, "cpus": os.cpu_count()}
    try:
        deploy(plane, args.db)  # the first deploy: installs
        prod = production(plane)
        res["runtime"] = prod["effective_runtime"]
        wait_answers(listen_port, HOSTNAME)

        # 1. throughput through the same nginx: the container on its own
        # network vs a twin on the host's network (turn about, twice each),
        # then one threaded process asked directly.
        host_port, host_gevent = free_port(), free_port()
        host_twin = twin(prod["container_id"], host_port, single_process=False, gevent_port=host_gevent)
        try:
            wait_answers(host_port, HOSTNAME)
            bench_nginx(work, listen_port, prod, host_port, host_gevent)
            for host in (HOSTNAME, HOST_TWIN):
                load(listen_port, host, 3, args.concurrency, args.procs)  # warm-up
            rounds = {"network": [], "host_network": []}
            for _ in range(2):
                for name, host in (("network", HOSTNAME), ("host_network", HOST_TWIN)):
                    rounds[name].append(load(listen_port, host, args.seconds / 2, args.concurrency, args.procs))
            for name, runs in rounds.items():
                res[name] = merge(runs)
        finally:
            host_twin.remove(force=True)
            configure(plane, work, repo_url, "127.0.0.1:%d" % listen_port)
            plane(lambda env: env["ops.environment"]._ops_proxy_reload())
        single_port = free_port()
        single = twin(prod["container_id"], single_port, single_process=True)
        try:
            wait_answers(single_port, HOSTNAME)
            load(single_port, HOSTNAME, 3, args.concurrency, args.procs)
            res["single"] = load(single_port, HOSTNAME, args.seconds, args.concurrency, args.procs)
        finally:
            single.remove(force=True)

        # 2. code-only redeploys through nginx, a visitor every 50 ms
        switches = []
        with Visitor(listen_port, HOSTNAME) as visitor:
            for _ in range(args.redeploys):
                switches.append(deploy(plane, args.db))
        res["redeploys"] = {"count": args.redeploys, "requests": len(visitor.answers), "failed": visitor.failed(),
                            "longest_gap_s": visitor.longest_gap(),
                            "switch_s_max": max(s for s in switches if s is not None) if any(switches) else None,
                            "switch_s_mean": (sum(s for s in switches if s is not None)
                                              / max(1, len([s for s in switches if s is not None])))}

        # baseline: a host-network twin replaced by stop-then-start on its port
        prod = production(plane)
        port, gevent = free_port(), free_port()
        old = twin(prod["container_id"], port, single_process=False, gevent_port=gevent)
        wait_answers(port, HOSTNAME)
        with Visitor(port, HOSTNAME) as visitor:
            time.sleep(1)
            old.stop(timeout=10)
            old.remove(force=True)
            replacement = twin(prod["container_id"], port, single_process=False, gevent_port=gevent)
            wait_answers(port, HOSTNAME)
            time.sleep(1)
        replacement.remove(force=True)
        res["stop_then_start"] = {"requests": len(visitor.answers), "failed": visitor.failed(),
                                  "longest_gap_s": visitor.longest_gap()}
    finally:
        remove_twins()
        destroy_all(plane, args.db)
        drop_templates(namespace, project_id, work, naming.template_role_name(namespace, project_id))
        nginx.stop(os.path.join(work, "proxy"))
        shutil.rmtree(work, ignore_errors=True)

    w, h, s = res["network"], res["host_network"], res["single"]
    res["network_rps_ratio"] = w["rps"] / h["rps"] if h["rps"] else None
    res["network_p95_ratio"] = w["p95_ms"] / h["p95_ms"] if h["p95_ms"] else None
    res["rps_ratio"] = w["rps"] / s["rps"] if s["rps"] else None
    res["p95_ratio"] = w["p95_ms"] / s["p95_ms"] if s["p95_ms"] else None
    print("production of a one-addon project, %d CPUs, containers of 2 CPUs / 2 GB; %s" % (res["cpus"],
                                                                                        res["runtime"]))
    print("GET /web/login, %d keep-alive clients, %.0f s each" % (args.concurrency, args.seconds))
    print("%-56s %9s %9s %9s %7s" % ("", "req/s", "p50 ms", "p95 ms", "errors"))
    for label, row in (("prefork, own network, through nginx", w),
                       ("baseline: prefork, host's network, through nginx", h),
                       ("baseline: one threaded process, direct", s)):
        print("%-56s %9.1f %9.1f %9.1f %7d" % (label, row["rps"], row["p50_ms"], row["p95_ms"], row["errors"]))
    print("own network / host's network: %.2fx requests/s, p95 %.2fx" % (res["network_rps_ratio"],
                                                                          res["network_p95_ratio"]))
    print("prefork through nginx / one threaded process: %.2fx requests/s, p95 %.2fx" % (res["rps_ratio"],
                                                                                        res["p95_ratio"]))
    r, b = res["redeploys"], res["stop_then_start"]
    print("%-52s %9s %9s %12s" % ("a visitor every 50 ms", "requests", "failed", "longest gap"))
    print("%-52s %9d %9d %11.1fs" % ("%d code-only redeploys (start-first, nginx switch)" % r["count"],
                                     r["requests"], r["failed"], r["longest_gap_s"]))
    print("%-52s %9d %9d %11.1fs" % ("baseline: stop-then-start on the same port", b["requests"], b["failed"],
                                     b["longest_gap_s"]))
    print("new container answering -> traffic on it: mean %.2fs, max %.2fs (run logs)" % (
        r["switch_s_mean"], r["switch_s_max"] or 0))

    print(json.dumps(dict(rounded(res), bench="serving")))


if __name__ == "__main__":
    main()

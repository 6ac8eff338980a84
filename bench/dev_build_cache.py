#!/usr/bin/env python3
"""Development build time, cold and warm (template cache), same machine, same run.

Cold: nothing cached (no template database): install the sample project's
modules with demo data and run its tests, start the container, wait until
it answers /web/login. Warm: a second branch's first build of the same
commit (a new environment, with a database role of its own), which starts
from the cached template database (CREATE DATABASE ... TEMPLATE, then its
objects handed over to the environment's role) and hard-linked filestore.
Both go through the real build executor, with the real Docker engine,
PostgreSQL and git; a console reporter stands in for
the control plane's database reporter.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/dev_build_cache.py'
Prints a table and a JSON line. Goal: warm under a quarter of cold.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import odoo.addons

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
odoo.addons.__path__.append(os.path.join(REPO, "addons"))
# Odoo's own addons (web): ipai_ops_core's controllers import them.
odoo.addons.__path__.append(os.path.join(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"), "addons"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bigdb import conn_params  # noqa: E402
from odoo.addons.ipai_ops_core.executors import build, lifecycle  # noqa: E402
from odoo.addons.ipai_ops_core.executors.base import Reporter  # noqa: E402
from odoo.addons.ipai_ops_core.services import docker_engine, naming, postgres  # noqa: E402

SLUG = "bench-devbuild"


class ConsoleReporter(Reporter):
    def __init__(self, verbose):
        self.verbose, self.env, self.lines = verbose, {}, 0

    def log(self, level, message):
        self.lines += 1
        if self.verbose or level == "error":
            print("  [%s] %s" % (level, message[:200]), file=sys.stderr)

    def flush(self):
        pass

    def check_canceled(self):
        pass

    def set_commit(self, sha):
        self.sha = sha

    def artifact(self, key, location, sha256=None, content_type=None, size=0):
        pass

    def update_environment(self, values):
        self.env.update(values)

    def environment_message(self, text):
        print("  [chatter] %s" % text, file=sys.stderr)

    def apply_proxy(self, values=None, drain_timeout=0):
        # No front door in this bench: the builds are reached on their ports.
        self.env.update(values or {})
        return {"status": "none", "seconds": 0.0}


def sample_repo(root):
    """A project like a small customer's: two addons with tests and data."""
    work = os.path.join(root, "work")
    for name, deps in (("bench_sale", ["sale_management"]), ("bench_stock", ["stock", "bench_sale"])):
        addon = os.path.join(work, name)
        os.makedirs(os.path.join(addon, "tests"))
        with open(os.path.join(addon, "__init__.py"), "w"):
            pass
        with open(os.path.join(addon, "__manifest__.py"), "w") as fh:
            fh.write(repr({"name": name, "version": "18.0.1.0.0", "depends": deps, "license": "LGPL-3"}))
        with open(os.path.join(addon, "tests", "__init__.py"), "w") as fh:
            fh.write("from . import test_basic\n")
        with open(os.path.join(addon, "tests", "test_basic.py"), "w") as fh:
            fh.write("from odoo.tests import TransactionCase\n\n\nclass TestBasic(TransactionCase):\n"
                     "    def test_partner(self):\n        self.assertTrue(self.env['res.partner'].search([]))\n")
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=b"]
    subprocess.run(git + ["init", "-q", "-b", "main", work], check=True)
    subprocess.run(git + ["-C", work, "add", "-A"], check=True)
    subprocess.run(git + ["-C", work, "commit", "-qm", "sample"], check=True)
    bare = os.path.join(root, "sample.git")
    subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
    return "file://" + bare


def change_one_module(root):
    """A new commit that touches bench_stock only (it is updated and its tests rerun)."""
    work = os.path.join(root, "work")
    with open(os.path.join(work, "bench_stock", "tests", "test_basic.py"), "a") as fh:
        fh.write("\n    def test_more(self):\n        self.assertTrue(self.env['stock.warehouse'].search([]))\n")
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=b", "-C", work]
    subprocess.run(git + ["commit", "-qam", "one more test"], check=True)
    subprocess.run(git + ["push", "-q", os.path.join(root, "sample.git"), "main"], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    admin = conn_params()
    root = tempfile.mkdtemp(prefix="ops-bench-")
    data = os.path.join(root, "data")
    engine = docker_engine.DockerEngine()
    base = {
        "namespace": "obench", "project_id": 1, "project_slug": SLUG, "branch": "main", "stage": "development",
        "repo_url": sample_repo(root), "ref": "main", "commit_sha": None, "tool_image": "ipai-ops/odoo:18.0",
        "modules_mode": "own", "module_list": "", "test_tags": None, "mem_limit": "2048m",
        "nano_cpus": 2 * 10**9, "db": admin, "template_role": naming.template_role_name("obench", 1),
        "admin_password": "bench-admin-secret", "work_root": os.path.join(data, "work"),
        "git_cache": os.path.join(data, "git"), "filestore_root": os.path.join(data, "filestore"),
        "secrets_root": os.path.join(data, "secrets"), "network_mode": "host",
    }
    for path in (base["work_root"], base["git_cache"], base["filestore_root"]):
        os.makedirs(path)

    def env_spec(env_id, **values):
        return dict(base, environment_id=env_id, db_role=naming.env_role_name("obench", env_id),
                    db_role_password="bench-secret-%d" % env_id, **values)

    rows, current = [], {1: {}, 2: {}}
    try:
        # The cold build is a first branch's; the warm ones are a second
        # branch's (a new environment with a role of its own, starting from
        # the project's template), as a developer pushing a new branch sees.
        builds = ((1, 1, "cold (no template)"), (2, 2, "warm (template cache)"),
                  (3, 2, "warm, 1 module changed"))
        for number, env_id, label in builds:
            if number == 3:
                change_one_module(root)
            reporter = ConsoleReporter(args.verbose)
            # A new port per build, as the control plane allocates: the previous
            # build keeps serving until the new one is healthy.
            spec = env_spec(env_id, run_id=number, run_number=number, current=current[env_id], port=18990 + number)
            start = time.monotonic()
            result = build.execute(spec, reporter, engine)
            seconds = time.monotonic() - start
            current[env_id] = {k: reporter.env.get(k) for k in ("container_id", "database_name", "image_digest",
                                                                "port", "db_role")}
            current[env_id]["db_owner"] = current[env_id].pop("db_role")
            rows.append({"build": label, "seconds": round(seconds, 1), "result": result["result"],
                         "log_lines": reporter.lines})
            print("%s: %.1fs (%s)" % (label, seconds, result["message"]), file=sys.stderr)
    finally:
        for env_id in (1, 2):
            spec = env_spec(env_id, run_id=99, run_number=99, current=current[env_id])
            lifecycle.destroy(spec, ConsoleReporter(False), engine)
        for name in postgres.list_databases(admin, "tpl_obench_1_"):
            postgres.drop_database(admin, name)
        subprocess.run(["rm", "-rf", root], check=False)
    ratio = rows[1]["seconds"] / rows[0]["seconds"]
    ratio_changed = rows[2]["seconds"] / rows[0]["seconds"]
    print("%-24s %10s %8s %10s" % ("build", "seconds", "result", "log lines"))
    for row in rows:
        print("%-24s %10.1f %8s %10d" % (row["build"], row["seconds"], row["result"], row["log_lines"]))
    print("warm / cold = %.3f (goal < 0.25); warm with one module changed / cold = %.3f" % (ratio, ratio_changed))
    print(json.dumps({"bench": "dev_build_cache", "rows": rows, "warm_over_cold": round(ratio, 3),
                      "warm_changed_over_cold": round(ratio_changed, 3)}))


if __name__ == "__main__":
    main()

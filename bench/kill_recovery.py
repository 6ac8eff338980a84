#!/usr/bin/env python3
"""How long from a worker killed mid-build to the retried run's success?

A project "bench-kill" on a local git repository holding one tiny addon (one
data file, one test). Same run, one after the other, both cold (the project's
template databases are dropped before each, so both install):
  baseline  a development build of feature/base, uninterrupted: queued, then
            `odoo-bin ops-worker --once` (the real worker), until succeeded
  killed    a build of feature/kill; its worker (own session) is killed with
            SIGKILL as soon as the run's log says "Installing"; the reaper
            (heartbeat timeout set to 10 s, 11 s waited, _cron_reap_stale_runs,
            in `odoo-bin shell`: its start and the 11 s count in the reaper
            wait) requeues it; a new worker runs attempt 2.
The run must end succeeded at attempt 2 with attempts [(1, lost), (2, succeeded)].
At the end both environments are destroyed by destroy runs and the worker.
Scratch database (default ipai_ops_bench_kill, ipai_ops_core installed once);
its data root, port range and local repository root point into --work.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/kill_recovery.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backup_restore import odoo_setup  # noqa: E402
from run_log_queries import REPO, connect, ensure_database  # noqa: E402

SLUG = "bench-kill"
ADDON = "ops_e2e_addon"
FILES = {
    "__init__.py": "",
    "__manifest__.py": '{"name": "E2E addon", "version": "18.0.1.0.0", "depends": ["base"], "license": "LGPL-3",\n'
                       ' "data": ["data/partner.xml"], "installable": True}\n',
    "data/partner.xml": '<odoo><record id="partner_e2e" model="res.partner"><field name="name">Built by ipai ops'
                        '</field>\n</record></odoo>\n',
    "tests/__init__.py": "from . import test_e2e\n",
    "tests/test_e2e.py": 'from odoo.tests import TransactionCase, tagged\n\n\n@tagged("at_install", "-post_install")\n'
                         "class TestE2E(TransactionCase):\n    def test_partner_loaded(self):\n"
                         '        partner = self.env.ref("ops_e2e_addon.partner_e2e")\n'
                         '        self.assertEqual(partner.name, "Built by ipai ops")\n',
}
REAP = ('env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "10")\nenv.cr.commit()\n'
        'import time; time.sleep(11)\nprint("REAPED", env["ops.run"]._cron_reap_stale_runs())\nenv.cr.commit()\n'
        'env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "300")\nenv.cr.commit()\n')


def make_repo(root, name="kill.git", branches=("feature/base", "feature/kill")):
    """A bare repository of the bench addon on main, with ``branches`` pointing at it; its file:// URL."""
    work, bare = os.path.join(root, "work"), os.path.join(root, name)
    for path, text in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(work, ADDON, path)), exist_ok=True)
        with open(os.path.join(work, ADDON, path), "w") as fh:
            fh.write(text)
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=b", "-C", work]
    subprocess.run(["git", "init", "-q", "-b", "main", work], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "addon"], check=True)
    for branch in branches:
        subprocess.run(git + ["branch", branch], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
    return "file://" + bare


def odoo_cmd(db, *command):
    addons = "%s/addons,%s/addons" % (os.environ["ODOO_SRC"], REPO)
    return [sys.executable, os.path.join(os.environ["ODOO_SRC"], "odoo-bin"), "--addons-path=%s" % addons, *command,
            "-c", os.environ["OPS_CONF"], "--db_host", os.environ["OPS_DB_HOST"],
            "--db_port", os.environ["OPS_DB_PORT"], "--db_user", os.environ["OPS_DB_USER"], "-d", db,
            "--log-level=warn"]


def worker_cmd(db, worker_id):
    return odoo_cmd(db, "ops-worker") + ["--worker-id", worker_id, "--projects", SLUG, "--once"]


def run_worker(db, worker_id):
    proc = subprocess.run(worker_cmd(db, worker_id), capture_output=True, text=True, timeout=1200)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or "Traceback" in output:
        sys.exit("the worker failed:\n" + output[-3000:])


class Plane:
    """The control plane's records, through a registry of this process."""

    def __init__(self, db):
        from odoo import SUPERUSER_ID, api
        from odoo.modules.registry import Registry

        self.db, self.registry, self.api, self.uid = db, Registry(db), api, SUPERUSER_ID

    def __call__(self, fn):
        with self.registry.cursor() as cr:
            env = self.api.Environment(cr, self.uid, {})
            result = fn(env)
            env.flush_all()  # what ``fn`` wrote last is written before the commit
            return result

    def run(self, run_id):
        return self(lambda env: env["ops.run"].browse(run_id).api_read())

    def queue(self, **values):
        return self(lambda env: env["ops.run"].queue_run(dict(values, project=SLUG))["id"])

    def log_has(self, run_id, text):
        with self.registry.cursor() as cr:
            cr.execute("SELECT 1 FROM ops_run_log WHERE run_id = %s AND position(%s in message) > 0 LIMIT 1",
                       [run_id, text])
            return bool(cr.fetchone())

    def attempts(self, run_id):
        return self(lambda env: [(a.number, a.outcome) for a in env["ops.run.attempt"].search(
            [("run_id", "=", run_id)], order="number")])


def configure(plane, work, repo_url):
    def do(env):
        env.ref("ipai_ops_core.ops_host_local").repo_roots = work
        params = env["ir.config_parameter"]
        params.set_param("ipai_ops.data_root", os.path.join(work, "data"))
        params.set_param("ipai_ops.heartbeat_timeout_seconds", "300")
        project = env["ops.project"].search([("slug", "=", SLUG)])
        if project:
            project.repo_url = repo_url
        else:
            project = env["ops.project"].create({"name": "Bench kill", "slug": SLUG, "repo_url": repo_url,
                                                 "mem_limit_mb": 1024})
        return project.id
    return plane(do)


def destroy_all(plane):
    """Destroy runs for the project's environments, executed by the worker."""
    envs = plane(lambda env: env["ops.environment"].search(
        [("project_id.slug", "=", SLUG), ("state", "not in", ("new", "destroyed"))]).ids)
    for env_id in envs:
        plane.queue(kind="destroy", environment_id=env_id)
    if envs:
        run_worker(plane.db, "bench-kill-cleanup")
    return plane(lambda env: env["ops.environment"].search_count(
        [("id", "in", envs), ("state", "!=", "destroyed")]))


def drop_templates(namespace, project_id, work, role=None):
    """The project's build templates (names carry the scratch database's namespace), at the end their role."""
    conn = connect("postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                   ["tpl_%s_%d_" % (namespace, project_id)])
        for (name,) in cr.fetchall():
            cr.execute('DROP DATABASE "%s" WITH (FORCE)' % name)
        if role:
            cr.execute('DROP ROLE IF EXISTS "%s"' % role)
    conn.close()
    shutil.rmtree(os.path.join(work, "data", "filestore", SLUG, "templates"), ignore_errors=True)


def containers(namespace, run_id):
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": [
        "ipai-ops.plane=%s" % namespace, "ipai-ops.run=%d" % run_id]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_kill")
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work",
                                                       "kill-recovery"))
    args = parser.parse_args()
    ensure_database(args.db)
    odoo_setup()
    from odoo.addons.ipai_ops_core.services import naming

    namespace = naming.namespace_for(args.db)
    work = os.path.realpath(args.work)
    shutil.rmtree(os.path.join(work, "repo"), ignore_errors=True)
    os.makedirs(os.path.join(work, "repo"))
    repo_url = make_repo(os.path.join(work, "repo"))
    plane = Plane(args.db)
    project_id = configure(plane, work, repo_url)
    destroy_all(plane)  # what an interrupted earlier run left
    res = {}
    try:
        # 1. baseline: an uninterrupted cold build
        drop_templates(namespace, project_id, work)
        started = time.monotonic()
        base = plane.queue(kind="build", branch="feature/base")
        run_worker(args.db, "bench-kill-base")
        res["baseline"] = time.monotonic() - started
        run = plane.run(base)
        assert run["state"] == "succeeded", run

        # 2. killed during its install, reaped, retried
        drop_templates(namespace, project_id, work)
        started = time.monotonic()
        killed = plane.queue(kind="build", branch="feature/kill")
        proc = subprocess.Popen(worker_cmd(args.db, "bench-kill-doomed"), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while not plane.log_has(killed, "Installing"):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL)
                sys.exit("the install never started: %s" % plane.run(killed))
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        res["queue_to_kill"] = killed_at - started
        left = len(containers(namespace, killed))
        state = plane.run(killed)["state"]
        shell = subprocess.run(odoo_cmd(args.db, "shell") + ["--no-http"], input=REAP, capture_output=True,
                               text=True, timeout=300)
        requeued_at = time.monotonic()
        run = plane.run(killed)
        assert "REAPED 1" in shell.stdout and (run["state"], run["attempt"]) == ("queued", 2), (shell.stdout, run)
        res["reaper_wait"] = requeued_at - killed_at
        res["leftover_containers_after_kill"], res["after_reap"] = left, len(containers(namespace, killed))
        run_worker(args.db, "bench-kill-retry")
        done_at = time.monotonic()
        run, attempts = plane.run(killed), plane.attempts(killed)
        assert (run["state"], run["attempt"]) == ("succeeded", 2), (run["state"], run["error_message"])
        assert attempts == [(1, "lost"), (2, "succeeded")], attempts
        res.update(state_at_kill=state, attempt2=done_at - requeued_at, total=done_at - killed_at,
                   attempts=attempts)
    finally:
        remaining = destroy_all(plane)
        drop_templates(namespace, project_id, work, naming.template_role_name(namespace, project_id))
        shutil.rmtree(work, ignore_errors=True)
    res["environments_not_destroyed"] = remaining

    res["attempt2_over_baseline"] = res["attempt2"] / res["baseline"]
    res["total_over_baseline"] = res["total"] / res["baseline"]
    print("development build of a one-addon project (cold: install + test), %d CPUs" % os.cpu_count())
    print("%-46s %9s" % ("", "seconds"))
    for label, key in (("baseline build (queued -> succeeded)", "baseline"),
                       ("killed build: queued -> worker killed", "queue_to_kill"),
                       ("killed-and-recovered total (kill -> succeeded)", "total"),
                       ("  of which reaper wait (kill -> requeued)", "reaper_wait"),
                       ("  of which attempt 2 (requeued -> succeeded)", "attempt2")):
        print("%-46s %9.1f" % (label, res[key]))
    print("attempt 2 / baseline = %.2f; total / baseline = %.2f; attempts %s; run %s at the kill; "
          "containers of the killed attempt %d, after the reaper %d" % (
              res["attempt2_over_baseline"], res["total_over_baseline"], res["attempts"], res["state_at_kill"],
              res["leftover_containers_after_kill"], res["after_reap"]))
    print(json.dumps(dict({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()},
                          bench="kill_recovery")))


if __name__ == "__main__":
    main()

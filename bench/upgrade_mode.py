#!/usr/bin/env python3
"""How long does a commit on upgrade/19.0 take in upgrade mode, against the
preview that made the migrated copy it updates?

Made here, through the real executors (Docker, PostgreSQL, git, Odoo 18.0
and 19.0; a console reporter stands in for the control plane's database):
an 18.0 production (the upgrade tests' addon on sale_management, stock and
the OCA's date_range: the 17.0 scan and fixes of bench/upgrade_preview.py,
merged into main, first deploy on 18.0, then Odoo's own 'Load demo data'),
the scan for 19.0 (push of upgrade/19.0) and the OCA module's 19.0 wheel.

  preview   executors/upgrade_preview.py: copy of production (live), the
            code built FROM the 19.0 image, OpenUpgrade 18.0 -> 19.0,
            module check, neutralize, start (the baseline);
  commit N  a commit on upgrade/19.0 adding a field to the addon, then a
            build of the preview's environment in upgrade mode
            (executors/upgrade_mode.py): built FROM the 19.0 image, the kept
            copy copied (TEMPLATE), -u of the addon, switch. Checked: the
            column is in the new copy, the log names the module updated and
            no migration ran. Twice, one after the other, same run.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/upgrade_mode.py'
Prints a table and a JSON line. Goal (issue 26): each commit < 1/3 of the
preview.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upgrade_preview as preview_bench  # noqa: E402 - bench/upgrade_preview.py; it also puts addons/, tests/ on the paths
from bigdb import conn_params  # noqa: E402
from dev_build_cache import ConsoleReporter  # noqa: E402
from odoo.addons.ipai_ops_core.executors import (  # noqa: E402
    deploy,
    lifecycle,
    odoo_steps,
    paths,
    staging,
    upgrade_preview,
    upgrade_scan,
)
from odoo.addons.ipai_ops_core.services import (  # noqa: E402
    docker_engine,
    egress,
    env_network,
    firewall,
    naming,
    postgres,
)
from odoo.addons.ipai_ops_core.services.postgres import access  # noqa: E402
from staging_copy import free_port  # noqa: E402
from upgrade_fixture import ADDON_17, make_production_repo, vendor_oca_wheel  # noqa: E402
from upgrade_scan import advisories  # noqa: E402 - bench/upgrade_scan.py

SLUG = "bench-upgmode"
NS = "obenchm"
FIELDS = ("note", "ref_code")  # one new field per commit


class Reporter(preview_bench.Reporter):
    def __init__(self, verbose):
        super().__init__(verbose)
        self.messages = []

    def log(self, level, message):
        self.messages.append(message)
        super().log(level, message)


def git(*args):
    subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", *args], check=True, capture_output=True)


def columns(dbname):
    conn = psycopg2.connect(dbname=dbname, **conn_params())
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'acme_order'")
            return {row[0] for row in cr.fetchall()}
    finally:
        conn.close()


class Bench:
    def __init__(self, verbose):
        self.verbose, self.admin = verbose, conn_params()
        self.root = tempfile.mkdtemp(prefix="ops-bench-upgmode-")
        self.dev = os.path.join(self.root, "dev")
        self.url, _bare = make_production_repo(Path(self.root))
        self.engine = docker_engine.DockerEngine()
        sources = os.path.dirname(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"))
        self.tools = {v: {"odoo_version": v, "source_dir": os.path.join(sources, "odoo-" + v)}
                      for v in ("18.0", "19.0")}
        runtime = {"workers": 0, "cron_threads": 0, "limit_memory_soft_mb": 2048, "limit_memory_hard_mb": 2560,
                   "limit_time_cpu": 600, "limit_time_real": 1200}
        data = os.path.join(self.root, "data")
        self.base = dict(
            namespace=NS, project_id=1, project_slug=SLUG, repo_url=self.url, commit_sha=None, modules_mode="own",
            module_list="", test_tags=False, mem_limit="2560m", nano_cpus=2 * 10**9, db=self.admin,
            template_role=naming.template_role_name(NS, 1), admin_password="bench-admin-secret",
            network_mode="host", host="local", docker_url=None, mail=None, obfuscate=False, scrub_sql=[],
            runtime=runtime, openupgrade_dir=os.path.join(sources, "openupgrade"),
            # the staging network's egress proxy (services/egress.py): one of the bench's own
            network_settings={"egress_root": os.path.join(self.root, "egress"), "egress_port": free_port()},
            **{key: os.path.join(data, key.split("_")[0]) for key in ("work_root", "git_cache", "filestore_root",
                                                                      "secrets_root")})
        for key in ("work_root", "git_cache", "filestore_root"):
            os.makedirs(self.base[key])
        self.currents, self.figures, self.commits = {1: {}, 2: {}}, {}, []

    def env_spec(self, env_id, stage, branch, run_id, version, **values):
        return dict(self.base, environment_id=env_id, stage=stage, branch=branch, ref=branch, run_id=run_id,
                    run_number=run_id, db_role=naming.env_role_name(NS, env_id), port=18850 + run_id,
                    db_role_password="bench-secret-%d" % env_id, tool_image="ipai-ops/odoo:%s" % version,
                    tool=self.tools.get(version, {}), odoo_version=version, **values)

    def scan(self, run_id, frm, to):
        step = {"from": frm, "to": to, "image": "ipai-ops/odoo:%s" % to, "tool": self.tools[to],
                "advisories": advisories(frm, to)}
        upgrade_scan.execute(dict(
            self.base, run_id=run_id, run_number=run_id, kind="upgrade_scan", environment_id=0, branch="main",
            ref="main", from_version=frm, to_version=to, source_image="ipai-ops/odoo:%s" % frm,
            source_tool=self.tools.get(frm, {}), push_branch=True, upgrade_branch="upgrade/%s" % to,
            protected_branches=["main"], artifact_dir=os.path.join(self.root, "artifacts"),
            package_index="http://127.0.0.1:9/pypi", steps=[step]), Reporter(self.verbose), self.engine)

    def production(self):
        """The code on 18.0 merged into main (the 17.0 scan, bench/upgrade_preview.py's fixes and 18.0 wheel),
        deployed on 18.0 with Odoo's demo data."""
        self.scan(1, "17.0", "18.0")
        preview_bench.fix_branch(self.url, self.root)
        git("-C", os.path.join(self.root, "fix"), "push", "-q", "origin", "upgrade/18.0:main")
        reporter = Reporter(self.verbose)
        spec = self.env_spec(1, "production", "main", 2, "18.0", current={})
        deploy.execute(spec, reporter, self.engine)
        self.currents[1] = dict(reporter.env, db_owner=spec["db_role"])
        prod_db = self.currents[1]["database_name"]
        code, tail = odoo_steps.run_odoo(
            spec, self.engine, self.currents[1]["image_digest"], ["shell", "-d", prod_db, "--no-http"], "demo",
            reporter, entrypoint=["sh", "-c", "printf \"env['ir.demo'].install_demo()\\nenv.cr.commit()\\n\" | "
                                              "odoo \"$@\"", "odoo"])
        assert code == 0, tail[-5:]
        self.figures["production_db_mb"] = round(postgres.database_size(self.admin, prod_db) / 1e6, 1)
        self.figures["production_modules"] = len(postgres.module_states(self.admin, prod_db))
        return spec

    def preview(self, prod_spec):
        """The scan for 19.0, the OCA module's 19.0 wheel on upgrade/19.0, then the preview (the baseline)."""
        self.scan(3, "18.0", "19.0")
        git("clone", "-q", "--branch", "upgrade/19.0", self.url, self.dev)
        vendor_oca_wheel(Path(self.dev), "19.0")
        git("-C", self.dev, "add", "-A")
        git("-C", self.dev, "commit", "-qm", "date_range 19.0")
        git("-C", self.dev, "push", "-q", "origin", "upgrade/19.0")
        prod_db = self.currents[1]["database_name"]
        source = {"kind": "live", "database": prod_db, "owner": prod_spec["db_role"], "label": "production",
                  "filestore": paths.db_filestore(prod_spec, prod_db)}
        spec = self.env_spec(2, "staging", "upgrade/19.0", 4, "19.0", current={}, staging_source=source,
                             upgrade_steps=[{"from": "18.0", "to": "19.0", "image": "ipai-ops/odoo:19.0",
                                             "tool": self.tools["19.0"], "ref": "upgrade/19.0"}],
                             production_sizes={"db_bytes": None})
        reporter = Reporter(self.verbose)
        started = time.monotonic()
        upgrade_preview.execute(spec, reporter, self.engine)
        self.figures["preview_seconds"] = round(time.monotonic() - started, 1)
        self.figures["preview_migration_seconds"] = reporter.report["migration_seconds"]
        self.currents[2] = dict(reporter.env, db_owner=spec["db_role"], data_source="production")

    def commit(self, number, field):
        """A commit on upgrade/19.0 adding ``field`` to the addon, built in upgrade mode on the kept copy."""
        model = os.path.join(self.dev, ADDON_17, "models", "acme_order.py")
        with open(model) as fh:
            text = fh.read()
        anchor = "    name = fields.Char(required=True)\n"
        assert anchor in text, text
        with open(model, "w") as fh:
            fh.write(text.replace(anchor, anchor + "    %s = fields.Char()\n" % field))
        git("-C", self.dev, "commit", "-qam", "acme orders get a %s" % field)
        git("-C", self.dev, "push", "-q", "origin", "upgrade/19.0")
        reporter = Reporter(self.verbose)
        spec = self.env_spec(2, "staging", "upgrade/19.0", 4 + number, "19.0", current=self.currents[2],
                             staging_mode="upgrade", staging_source=None)
        started = time.monotonic()
        result = staging.execute(spec, reporter, self.engine)
        seconds = round(time.monotonic() - started, 1)
        self.currents[2] = dict(self.currents[2], **reporter.env)
        log = "\n".join(reporter.messages)
        updated = "Upgrade mode: updating the code's installed modules on the migrated copy (Odoo 19.0): " \
                  "%s" % ADDON_17 in log and "with OpenUpgrade" not in log
        present = set(FIELDS[:number]) <= columns(self.currents[2]["database_name"])
        assert updated and present, (updated, present, log[-3000:])
        update = re.search(r"updated on the migrated copy in (\d+)s", result["message"])
        self.commits.append({"seconds": seconds, "update_seconds": int(update.group(1)) if update else None,
                             "field": field, "checked": updated and present})

    def cleanup(self):
        for env_id, current in self.currents.items():
            try:
                lifecycle.destroy(self.env_spec(env_id, "production", "main", 99, "", current=current),
                                  ConsoleReporter(False), self.engine)
            except Exception as exc:  # noqa: BLE001 - the bench cleans up what it can
                print("cleanup of env %d: %s" % (env_id, exc), file=sys.stderr)
        for name in postgres.list_databases(self.admin, NS + "_"):
            postgres.drop_database(self.admin, name)
        for net in env_network.networks(self.engine, NS):  # the plane's build network
            env_network.remove(self.engine, net["name"])
        egress.stop(self.base["network_settings"]["egress_root"])
        firewall.remove(NS)
        access.sync(self.admin, NS, [])
        subprocess.run(["rm", "-rf", self.root], check=False)


def report(figures, commits):
    preview = figures["preview_seconds"]
    ratios = [c["seconds"] / preview for c in commits]
    passed = len(commits) == len(FIELDS) and all(r < 1 / 3 for r in ratios) and all(c["checked"] for c in commits)
    rows = [("production (18.0, demo data)", "%s MB, %d modules" % (figures["production_db_mb"],
                                                                   figures["production_modules"])),
            ("preview to 19.0, whole (copy, build, migrate, check, neutralize, start)", "%.1f s" % preview),
            ("  of which OpenUpgrade", "%.1f s" % figures["preview_migration_seconds"])]
    for number, (commit, ratio) in enumerate(zip(commits, ratios, strict=True), start=1):
        rows += [("upgrade mode, commit %d (+%s: build, copy, -u %s, switch)" % (number, commit["field"], ADDON_17),
                  "%.1f s (-u %s s)" % (commit["seconds"], commit["update_seconds"])),
                 ("  commit %d / preview (goal < 0.333)" % number, "%.3f" % ratio)]
    rows.append(("each commit under a third of the preview, column and log checked", "yes" if passed else "NO"))
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print("%s  %s" % (label.ljust(width), value))
    print(json.dumps(dict(figures, bench="upgrade_mode", branch="upgrade/19.0",
                          commit_seconds=[c["seconds"] for c in commits],
                          commit_update_seconds=[c["update_seconds"] for c in commits],
                          commit_over_preview=[round(r, 3) for r in ratios], under_a_third=passed)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    bench = Bench(args.verbose)
    try:
        bench.preview(bench.production())
        for number, field in enumerate(FIELDS, start=1):
            bench.commit(number, field)
    finally:
        bench.cleanup()
    report(bench.figures, bench.commits)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What does an upgrade preview cost over OpenUpgrade itself, and how close
is its predicted production downtime to the real one?

Made here, through the real executors (Docker, PostgreSQL, git, Odoo 17.0
and 18.0; a console reporter stands in for the control plane's database):
a 17.0 production (the upgrade tests' addon on sale_management and stock,
first deploy, then Odoo's own 'Load demo data' in a one-shot container),
the scan (push of upgrade/18.0) plus the two fixes no tool makes.

  preview   executors/upgrade_preview.py: copy of production (live), the
            code built FROM the 18.0 image, OpenUpgrade, module check,
            neutralize, start, answer;
  baseline  a bare OpenUpgrade run of the same database (CREATE DATABASE
            ... TEMPLATE of production, the same wheels, the same image and
            code, the same command), same run;
  upgrade   executors/upgrade.py on production: its downtime (maintenance
            page up to the new container serving) against the preview's
            prediction.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/upgrade_preview.py'
Prints a table and a JSON line. Goals: preview / bare <= 1.3; predicted
downtime within 25 % of the measured one.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import odoo.addons

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
odoo.addons.__path__.append(os.path.join(REPO, "addons"))
# Odoo's own addons (web): ipai_ops_core's controllers import them.
odoo.addons.__path__.append(os.path.join(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"), "addons"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from bigdb import conn_params  # noqa: E402
from dev_build_cache import ConsoleReporter  # noqa: E402
from odoo.addons.ipai_ops_core.executors import (  # noqa: E402
    deploy,
    lifecycle,
    odoo_steps,  # noqa: E402
    upgrade,
    upgrade_preview,
    upgrade_scan,
)
from odoo.addons.ipai_ops_core.services import docker_engine, naming, openupgrade, postgres  # noqa: E402
from upgrade_fixture import ADDON_17, make_production_repo, vendor_oca_wheel  # noqa: E402

SLUG = "bench-upgrade"
NS = "obenchu"


class Reporter(ConsoleReporter):
    def upgrade_result(self, report, findings):
        self.report, self.findings = report, findings


def advisories():
    from upgrade_scan import advisories as read  # bench/upgrade_scan.py

    return read("17.0", "18.0")


def fix_branch(url, root):
    """The two fixes no tool makes (cron numbercall/doall, ustr's call) and the OCA module's 18.0 wheel, pushed
    on upgrade/18.0."""
    work = os.path.join(root, "fix")
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=b"]
    subprocess.run(git + ["clone", "-q", "--branch", "upgrade/18.0", url, work], check=True)
    cron = os.path.join(work, ADDON_17, "data", "acme_cron.xml")
    with open(cron) as fh:
        lines = [line for line in fh if "numbercall" not in line and "doall" not in line]
    with open(cron, "w") as fh:
        fh.writelines(lines)
    model = os.path.join(work, ADDON_17, "models", "acme_order.py")
    with open(model) as fh:
        text = fh.read().replace("ustr(self.name)", "str(self.name)")
    with open(model, "w") as fh:
        fh.write(text)
    vendor_oca_wheel(Path(work), "18.0")  # production's OCA module (date_range): its 18.0 wheel
    subprocess.run(git + ["-C", work, "add", "-A"], check=True)
    subprocess.run(git + ["-C", work, "commit", "-qm", "fixes"], check=True)
    subprocess.run(git + ["-C", work, "push", "-q", "origin", "upgrade/18.0"], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    admin = conn_params()
    root = tempfile.mkdtemp(prefix="ops-bench-upgrade-")
    data = os.path.join(root, "data")
    url, _bare = make_production_repo(Path(root))
    engine = docker_engine.DockerEngine()
    sources = os.path.dirname(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"))
    openupgrade_dir = os.path.join(sources, "openupgrade")
    tool18 = {"odoo_version": "18.0", "source_dir": os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0")}
    base = {
        "namespace": NS, "project_id": 1, "project_slug": SLUG, "repo_url": url, "commit_sha": None,
        "modules_mode": "own", "module_list": "", "test_tags": False, "mem_limit": "2560m", "nano_cpus": 2 * 10**9,
        "db": admin, "template_role": naming.template_role_name(NS, 1), "admin_password": "bench-admin-secret",
        "work_root": os.path.join(data, "work"), "git_cache": os.path.join(data, "git"),
        "filestore_root": os.path.join(data, "filestore"), "secrets_root": os.path.join(data, "secrets"),
        "network_mode": "host", "host": "local", "docker_url": None, "mail": None, "obfuscate": False,
        "scrub_sql": [], "runtime": {"workers": 0, "cron_threads": 0, "limit_memory_soft_mb": 2048,
                                     "limit_memory_hard_mb": 2560, "limit_time_cpu": 600, "limit_time_real": 1200},
    }
    for path in (base["work_root"], base["git_cache"], base["filestore_root"]):
        os.makedirs(path)

    def env_spec(env_id, stage, branch, run_id, **values):
        return dict(base, environment_id=env_id, stage=stage, branch=branch, ref=branch, run_id=run_id,
                    run_number=run_id, db_role=naming.env_role_name(NS, env_id),
                    db_role_password="bench-secret-%d" % env_id, port=18950 + run_id, **values)

    prod_current, preview_current, figures = {}, {}, {}
    try:
        # 1. the 17.0 production, with Odoo's demo data
        reporter = Reporter(args.verbose)
        spec = env_spec(1, "production", "main", 1, tool_image="ipai-ops/odoo:17.0", odoo_version="17.0", tool={},
                        current={})
        deploy.execute(spec, reporter, engine)
        prod_current = {k: reporter.env.get(k) for k in ("container_id", "database_name", "image_digest", "port")}
        prod_current["db_owner"] = spec["db_role"]
        prod_db = prod_current["database_name"]
        code, tail = odoo_steps.run_odoo(
            spec, engine, prod_current["image_digest"], ["shell", "-d", prod_db, "--no-http"], "demo", reporter,
            entrypoint=["sh", "-c", "printf \"env['ir.demo'].install_demo()\\nenv.cr.commit()\\n\" | odoo \"$@\"",
                        "odoo"])
        assert code == 0, tail[-5:]
        figures["production_db_mb"] = round(postgres.database_size(admin, prod_db) / 1e6, 1)
        figures["production_modules"] = len(postgres.module_states(admin, prod_db))
        # 2. the scan, its branch and the fixes
        scan_spec = dict(base, run_id=2, run_number=2, kind="upgrade_scan", environment_id=0, branch="main",
                         ref="main", from_version="17.0", to_version="18.0",
                         steps=[{"from": "17.0", "to": "18.0", "image": "ipai-ops/odoo:18.0", "tool": tool18,
                                 "advisories": advisories()}],
                         source_image="ipai-ops/odoo:17.0", source_tool={}, push_branch=True,
                         upgrade_branch="upgrade/18.0", protected_branches=["main"],
                         artifact_dir=os.path.join(root, "artifacts"), openupgrade_dir=openupgrade_dir,
                         package_index="http://127.0.0.1:9/pypi")
        upgrade_scan.execute(scan_spec, Reporter(args.verbose), engine)
        fix_branch(url, root)
        steps = [{"from": "17.0", "to": "18.0", "image": "ipai-ops/odoo:18.0", "tool": tool18,
                  "ref": "upgrade/18.0"}]
        # 3. the preview
        reporter = Reporter(args.verbose)
        source = {"kind": "live", "database": prod_db, "owner": spec["db_role"], "label": "production",
                  "filestore": os.path.join(base["filestore_root"], SLUG, "env-1", "filestore", prod_db)}
        pspec = env_spec(2, "staging", "upgrade/18.0", 3, tool_image="ipai-ops/odoo:18.0", odoo_version="18.0",
                         tool=tool18, current={}, staging_source=source, upgrade_steps=steps,
                         openupgrade_dir=openupgrade_dir, production_sizes={"db_bytes": None})
        started = time.monotonic()
        upgrade_preview.execute(pspec, reporter, engine)
        figures["preview_seconds"] = round(time.monotonic() - started, 1)
        preview_current = {k: reporter.env.get(k) for k in ("container_id", "database_name", "image_digest")}
        report = reporter.report
        figures["preview_migration_seconds"] = report["migration_seconds"]
        figures["predicted_downtime_seconds"] = report["predicted_downtime_seconds"]
        # 4. the baseline: bare OpenUpgrade on a copy of the same database, same wheels, image, code, command
        bare_db = "%s_bare" % prod_db[:50]
        # production is idle here: its pooled connections are closed for the copy (Odoo reconnects)
        postgres.create_database(admin, bare_db, spec["db_role"], template=prod_db,
                                 terminate_template_connections=True)
        site = openupgrade.prepare_site(openupgrade_dir, "18.0")
        image_id = preview_current["image_digest"]
        started = time.monotonic()
        code, tail = odoo_steps.run_odoo(
            dict(spec, run_id=4), engine, image_id,
            ["-d", bare_db, "--stop-after-init", "--no-http", "--addons-path",
             "/mnt/extra-addons,/opt/odoo/addons,%s/odoo/addons" % openupgrade.MOUNT,
             "--load", "base,web,openupgrade_framework",
             "--upgrade-path", "%s/odoo/addons/openupgrade_scripts/scripts" % openupgrade.MOUNT, "-u", "all"],
            "bare", reporter, volumes=dict(odoo_steps.volumes(spec), **{site: {"bind": openupgrade.MOUNT,
                                                                                "mode": "ro"}}),
            environment={"PYTHONPATH": openupgrade.MOUNT}, mem_limit="2560m", nano_cpus=2 * 10**9, timeout=7200)
        figures["bare_openupgrade_seconds"] = round(time.monotonic() - started, 1)
        assert code == 0, tail[-5:]
        postgres.drop_database(admin, bare_db)
        # 5. the upgrade of production, its real downtime
        reporter = Reporter(args.verbose)
        prediction = upgrade_preview.predict_downtime(report, {"db_bytes": postgres.database_size(admin, prod_db)})
        uspec = env_spec(1, "production", "main", 5, tool_image="ipai-ops/odoo:18.0", odoo_version="18.0",
                         tool=tool18, current=prod_current, predicted_downtime_seconds=prediction,
                         upgrade_steps=[dict(steps[0], commit_sha=report["steps"][0]["commit_sha"])],
                         openupgrade_dir=openupgrade_dir)
        upgrade.execute(uspec, reporter, engine)
        prod_current.update({k: reporter.env.get(k) for k in ("container_id", "database_name", "image_digest")})
        figures["predicted_downtime_seconds"] = prediction
        figures["measured_downtime_seconds"] = reporter.report["downtime_seconds"]
    finally:
        for env_id, current in ((1, prod_current), (2, preview_current)):
            spec = env_spec(env_id, "production", "main", 99, current=current)
            try:
                lifecycle.destroy(spec, ConsoleReporter(False), engine)
            except Exception as exc:  # noqa: BLE001 - the bench cleans up what it can
                print("cleanup of env %d: %s" % (env_id, exc), file=sys.stderr)
        for name in postgres.list_databases(admin, NS + "_"):
            postgres.drop_database(admin, name)
        subprocess.run(["rm", "-rf", root], check=False)
    ratio = figures["preview_seconds"] / figures["bare_openupgrade_seconds"]
    error = abs(figures["predicted_downtime_seconds"] - figures["measured_downtime_seconds"]) / \
        figures["measured_downtime_seconds"]
    rows = [("production (17.0, demo data)", "%s MB, %d modules" % (figures["production_db_mb"],
                                                                   figures["production_modules"])),
            ("preview, whole (copy, build, migrate, check, neutralize, start)", "%.1f s" % figures["preview_seconds"]),
            ("  of which OpenUpgrade", "%.1f s" % figures["preview_migration_seconds"]),
            ("bare OpenUpgrade, same database, wheels, image, command", "%.1f s" % figures["bare_openupgrade_seconds"]),
            ("preview / bare (goal <= 1.3)", "%.2f" % ratio),
            ("predicted downtime", "%d s" % figures["predicted_downtime_seconds"]),
            ("measured downtime of the upgrade", "%.1f s" % figures["measured_downtime_seconds"]),
            ("prediction error (goal <= 25 %)", "%.0f %%" % (100 * error))]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print("%s  %s" % (label.ljust(width), value))
    print(json.dumps(dict(figures, bench="upgrade_preview", preview_over_bare=round(ratio, 3),
                          prediction_error=round(error, 3))))


if __name__ == "__main__":
    main()

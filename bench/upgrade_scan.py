#!/usr/bin/env python3
"""Is the upgrade scan of 50 addons done in under 30 s, and what does
limiting Odoo's upgrade_code to the project's addons save?

Ours: the scan executor (executors/upgrade_scan.py, as a worker runs it)
over a repository of --addons addons, each a copy of the 17.0 addon of the
upgrade tests (a <tree> view, group_operator, the old _name_search,
check_access_rights, ustr, a cron with numbercall): advisories, Odoo 18's
upgrade_code in the 18.0 runtime image over one addon at a time with only
the project's tree as addons path, odoo-module-migrator, the compile and lint
check, the dependency check (against the 17.0 and 18.0 images' modules and
OpenUpgrade's apriori; no package index call: every dependency is Odoo's) and
the patch. The advisories are read from the addon's data file.

Baseline, same run, same tree: ``odoo-bin upgrade_code --from 17.0
--dry-run`` in the same image as its documentation runs it (no --glob): it
walks Odoo's own addons too (dry run, so it rewrites nothing).

Prints a table and JSON (--json-out). Needs the runtime images
(make runtime-images) and the OpenUpgrade wheels (scripts/setup.sh).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def import_executor():
    from odoo.addons.ipai_ops_core.executors import upgrade_scan
    from odoo.addons.ipai_ops_core.services import docker_engine, odoo_versions

    return upgrade_scan, docker_engine, odoo_versions


from dev_build_cache import ConsoleReporter  # noqa: E402 (it puts our addons on odoo's path)


def advisories(from_version, to_version):
    from lxml import etree

    tree = etree.parse(os.path.join(REPO, "addons", "ipai_ops_core", "data", "ops_upgrade_advisory_data.xml"))
    rows = []
    for number, record in enumerate(tree.iter("record"), start=1):
        values = {f.get("name"): f.text for f in record.iter("field")}
        if values["from_version"] == from_version and values["to_version"] == to_version and values.get("pattern"):
            rows.append({"id": number, "code": values["code"], "pattern": values["pattern"],
                         "file_types": values.get("file_types") or "py", "fixed_by": values.get("fixed_by") or "none",
                         "severity": values["severity"]})
    return rows


def make_repo(root, count):
    from upgrade_fixture import ADDON_17, FILES_17, write_addon

    work = os.path.join(root, "work")
    os.makedirs(work)
    for index in range(count):
        name = "%s_%02d" % (ADDON_17, index)
        files = {rel: text.replace(ADDON_17, name).replace("acme.order", "acme.order%02d" % index)
                 .replace("acme_order", "acme_order%02d" % index) for rel, text in FILES_17.items()}
        files["models/__init__.py"] = "from . import acme_order%02d\n" % index
        files["models/acme_order%02d.py" % index] = files.pop("models/acme_order.py")
        from pathlib import Path

        write_addon(Path(work), name, files)
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=work, check=True)
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "addons"], cwd=work, check=True)
    bare = os.path.join(root, "repo.git")
    subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
    return "file://" + bare, work


class Reporter(ConsoleReporter):
    """The console reporter of the build bench, keeping what the scan found."""

    def __init__(self):
        super().__init__(verbose=False)
        self.result = None

    def upgrade_result(self, report, findings):
        self.result = (report, findings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addons", type=int, default=50)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    upgrade_scan, docker_engine, odoo_versions = import_executor()
    engine = docker_engine.DockerEngine()
    root = tempfile.mkdtemp(prefix="bench-upgrade-")
    try:
        url, work = make_repo(root, args.addons)
        openupgrade = os.path.join(os.path.dirname(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0")),
                                   "openupgrade")
        spec = {
            "namespace": "bench", "run_id": 1, "run_number": 1, "kind": "upgrade_scan", "project_id": 0,
            "project_slug": "bench-upgrade", "environment_id": 0, "branch": "main", "ref": "main",
            "commit_sha": None, "repo_url": url, "git_cache": os.path.join(root, "git"),
            "work_root": os.path.join(root, "work-root"), "host": "local", "docker_url": None,
            "from_version": "17.0", "to_version": "18.0",
            "steps": [{"from": "17.0", "to": "18.0", "image": "ipai-ops/odoo:18.0", "tool": {},
                       "advisories": advisories("17.0", "18.0")}],
            "source_image": "ipai-ops/odoo:17.0", "source_tool": {}, "push_branch": False,
            "upgrade_branch": "upgrade/18.0", "protected_branches": ["main"],
            "artifact_dir": os.path.join(root, "artifacts"), "openupgrade_dir": openupgrade,
            "package_index": "http://127.0.0.1:9/pypi",
        }
        for image in ("ipai-ops/odoo:18.0", "ipai-ops/odoo:17.0"):
            if not engine.image_id(image):
                sys.exit("%s is missing: make runtime-images" % image)
        reporter = Reporter()
        started = time.monotonic()
        upgrade_scan.execute(spec, reporter, engine)
        ours = time.monotonic() - started
        report, findings = reporter.result
        # Baseline: the tool as documented, over the same (untouched) tree.
        tree = os.path.join(root, "baseline")
        shutil.copytree(work, tree, ignore=shutil.ignore_patterns(".git"))
        started = time.monotonic()
        code, lines = engine.run_to_completion(
            "ipai-ops/odoo:18.0", ["upgrade_code", "--addons-path", "/mnt/extra-addons", "--from", "17.0",
                                   "--dry-run"], "ipai-ops-bench-upgrade-code", {"ipai-ops.plane": "bench"},
            volumes={tree: {"bind": "/mnt/extra-addons", "mode": "ro"}}, network_mode="none", timeout=1800)
        baseline = time.monotonic() - started
        touched_core = sum(1 for line in lines if line.startswith("/opt/odoo"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tools = report["tool_seconds"]
    result = {
        "addons": args.addons, "scan_seconds": round(ours, 2), "target_seconds": 30,
        "upgrade_code_seconds": tools.get("upgrade_code 18.0"),
        "module_migrator_seconds": tools.get("odoo-module-migrator 18.0"),
        "findings": len(findings), "patch_files": len(report["patch"]["files"]),
        "baseline_upgrade_code_unlimited_seconds": round(baseline, 2), "baseline_exit_code": code,
        "baseline_core_files_it_would_rewrite": touched_core,
        "ratio_upgrade_code_ours_vs_unlimited": round((tools.get("upgrade_code 18.0") or 0) / baseline, 3),
    }
    rows = [("whole scan (ours)", "%.1f s" % ours, "target < 30 s"),
            ("  upgrade_code, 50 addons one at a time", "%.1f s" % (tools.get("upgrade_code 18.0") or 0), ""),
            ("  odoo-module-migrator", "%.1f s" % (tools.get("odoo-module-migrator 18.0") or 0), ""),
            ("upgrade_code unlimited (baseline, dry run)", "%.1f s" % baseline,
             "%d of Odoo's own files it would rewrite" % touched_core)]
    width = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print("%s  %10s  %s" % (label.ljust(width), value, note))
    print(json.dumps(result, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()

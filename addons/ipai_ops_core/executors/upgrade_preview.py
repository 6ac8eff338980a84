"""An upgrade preview (run kind upgrade_preview): a copy of production (as
for staging: database and hard-linked filestore, production online),
migrated with OpenUpgrade in the target version's runtime image, one major
version at a time (17.0 to 19.0 is two migrations chained), then checked,
neutralized and started as an environment users can click into.

Exit code 0 is not success: afterwards every installed module must be
installed at the target's version; one left 'to upgrade' (a customer addon
missing from the addons path still exits 0) fails the preview with its name.

Spec additions (ops.run._ops_upgrade_preview_spec): staging_source (the
production copy), upgrade_steps [{from, to, image, tool, ref}],
openupgrade_dir, production_sizes {db_bytes, filestore_bytes}.
"""

import contextlib
import os
import time

from ..services import naming, odoo_versions, openupgrade, postgres, runtime, upgrade_tools
from . import cutover, image, node_files, odoo_steps, staging
from .base import RunFailed

# A production upgrade's downtime beyond the migration: its database copied
# with CREATE DATABASE ... TEMPLATE (a file copy, here about 200 MB/s), and the
# new container's start when the preview did not measure it.
TEMPLATE_COPY_BYTES_PER_SECOND = 200 * 10**6
START_SECONDS = 10


def execute(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    source = spec.get("staging_source")
    if not source or source.get("kind") != "live":
        raise RunFailed("An upgrade preview copies production: the project has no running production database.")
    started = time.monotonic()
    current = spec.get("current") or {}
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    report = {"from_version": spec["upgrade_steps"][0]["from"], "to_version": spec["upgrade_steps"][-1]["to"],
              "steps": [], "production": source["database"]}
    # Before anything is copied: OpenUpgrade's wheels are there and fit the target trees.
    installed = postgres.module_states(source.get("server") or spec["db"], source["database"])
    for step in spec["upgrade_steps"]:
        check_openupgrade(spec, reporter, step, installed)
    with kept_on_failure(reporter, report), cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                    spec["project_slug"], spec["branch"]))
        copy_started = time.monotonic()
        label = staging._copy_data(spec, switch, source, dbname, False)
        report["copy_seconds"] = round(time.monotonic() - copy_started, 1)
        report["db_bytes"] = postgres.database_size(spec["db"], dbname)
        report["filestore_bytes"] = node_files.filestore_size(spec, engine, dbname)
        report["rows_before"] = postgres.row_counts(spec["db"], dbname)
        reporter.check_canceled()
        image_id = None
        for step in spec["upgrade_steps"]:
            image_id = migrate(spec, engine, reporter, step, dbname, report)
            reporter.check_canceled()
        report["rows_after"] = postgres.row_counts(spec["db"], dbname)
        report["rows_changed"] = rows_changed(report["rows_before"], report["rows_after"])
        report["migration_seconds"] = round(sum(s["seconds"] for s in report["steps"]), 1)
        # Never let a copy of production act on the outside world.
        odoo_steps.neutralize_copy(spec, engine, image_id, dbname, reporter)
        live_started = time.monotonic()
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "data_source": "%s, migrated to Odoo %s" % (label, report["to_version"])})
        report["start_seconds"] = round(time.monotonic() - live_started, 1)
    report["predicted_downtime_seconds"] = predict_downtime(report, spec.get("production_sizes") or {})
    report["url"] = url
    report["seconds"] = round(time.monotonic() - started, 1)
    reporter.upgrade_result(report, [])
    lost = ", ".join("%s %s -> %s" % (k, a, b) for k, (a, b) in report["rows_changed"].items()) or "none"
    reporter.log("warning" if report["rows_changed"] else "info",
                 "Rows people made, before and after the migration: %s; changed: %s" % (
                     {k: v["own"] for k, v in report["rows_after"].items()}, lost))
    return {"exit_code": 0, "result": "ok" if not report["rows_changed"] else "warning",
            "message": "Upgrade preview to Odoo %s in %.0fs (migration %.0fs, predicted production downtime %ds): %s"
                       % (report["to_version"], report["seconds"], report["migration_seconds"],
                          report["predicted_downtime_seconds"], url)}


@contextlib.contextmanager
def kept_on_failure(reporter, report):
    """A failed preview or upgrade keeps what it measured (the modules of the
    step that failed, the one it stopped in) on the run, with the error."""
    try:
        yield
    except RunFailed as exc:
        report["error"] = str(exc)
        reporter.upgrade_result(report, [])
        raise


def build_step(spec, engine, reporter, step):
    """The image of one major version: the customer's code of the step
    (its commit, else its branch) in the target's runtime. Returns
    image.build_image's (sha, tag, image id, modules, versions)."""
    return image.build_image(dict(spec, tool_image=step["image"], tool=step["tool"], odoo_version=step["to"],
                                  ref=step["ref"], commit_sha=step.get("commit_sha"), branch=spec["branch"]),
                             reporter, engine)


def migrate(spec, engine, reporter, step, dbname, report, built=None):
    """One major version: the customer's code of the step in the target's
    image (``built``: build_step's, made already), OpenUpgrade's scripts
    checked against the target's tree, then ``-u all`` under OpenUpgrade,
    then every module's state verified. The step's report goes into
    ``report["steps"]``, failed or not. Returns the image it ran in."""
    installed = postgres.module_states(spec["db"], dbname)
    site = check_openupgrade(spec, reporter, step, installed)
    sha, _tag, image_id, modules, _versions = built or build_step(spec, engine, reporter, step)
    check_modules_there(spec, engine, reporter, step, image_id, dbname)
    log = openupgrade.MigrationLog()
    addons = "/mnt/extra-addons,/opt/odoo/addons,%s/odoo/addons" % openupgrade.MOUNT
    command = ["-d", dbname, "--stop-after-init", "--no-http", "--log-level", "info",
               "--log-handler", "odoo.modules.loading:INFO", "--addons-path", addons,
               "--load", "base,web,openupgrade_framework",
               "--upgrade-path", "%s/odoo/addons/openupgrade_scripts/scripts" % openupgrade.MOUNT, "-u", "all"]
    reporter.log("info", "Migrating %s from Odoo %s to %s with OpenUpgrade (code %s, %s)" % (
        dbname, step["from"], step["to"], sha[:12], step["ref"]))
    reporter.flush()
    started = time.monotonic()
    exit_code, tail = odoo_steps.run_odoo(
        spec, engine, image_id, command, "openupgrade", reporter, tools={site: openupgrade.MOUNT},
        environment={"PYTHONPATH": openupgrade.MOUNT},  # openupgradelib, next to the two addons
        on_line=lambda line: reporter.log(log.feed(line), line), mem_limit=spec.get("mem_limit"),
        nano_cpus=spec.get("nano_cpus"), timeout=6 * 3600)
    seconds = round(time.monotonic() - started, 1)
    reporter.flush()
    for module in log.report():
        module["from_version"] = (installed.get(module["module"]) or (None, None))[1]
    fatal = log.fatal_module(exit_code)
    report["steps"].append({"from": step["from"], "to": step["to"], "commit_sha": sha, "ref": step["ref"],
                            "seconds": seconds, "exit_code": exit_code, "modules": log.report(),
                            "after_modules": log.after_modules(), "fatal_module": fatal,
                            "scripts_wheel": os.path.basename(site)})
    if exit_code != 0:
        cause = log.errors[-1][1] if log.errors else " | ".join(tail[-3:]).strip()
        if exit_code == 137:
            cause = "killed (SIGKILL: out of memory, or stopped from outside)%s" % (
                "; it last said: %s" % cause if cause else "")
        raise RunFailed("The migration to Odoo %s failed%s (exit code %d): %s" % (
            step["to"], " in module %s" % fatal if fatal else "", exit_code, cause[:400] or "it said nothing"),
            exit_code)
    states = postgres.module_states(spec["db"], dbname)
    wrong = sorted("%s (%s%s)" % (name, state, ", version %s" % version if state == "installed" else "")
                   for name, (state, version) in states.items()
                   if state != "installed" or not (version or "").startswith(step["to"] + "."))
    if wrong:
        raise RunFailed("The migration to Odoo %s exited 0 but left modules behind: %s. A module left 'to upgrade' "
                        "is usually missing from the code (%s)." % (step["to"], ", ".join(wrong[:20]), step["ref"]))
    reporter.log("info", "Odoo %s: %d modules installed at %s.x in %.0fs; slowest: %s" % (
        step["to"], len(states), step["to"], seconds, ", ".join(
            "%s %.1fs" % (m["module"], m["seconds"]) for m in sorted(
                (m for m in log.report() if m["seconds"]), key=lambda m: -m["seconds"])[:5])))
    return image_id


def rows_changed(before, after):
    """{label: [before, after]} of the tables whose rows people made (no
    module's data) changed in number."""
    return {label: [counts["own"], (after.get(label) or {}).get("own")] for label, counts in before.items()
            if (after.get(label) or {}).get("own") != counts["own"]}


def check_modules_there(spec, engine, reporter, step, image_id, dbname):
    """Before the migration runs: every installed module is in the target's
    Odoo, the step's code or site-packages, or OpenUpgrade renames or merges
    it. One that is nowhere would be left 'to upgrade' by a migration that
    still exits 0: said now, before the long part."""
    labels = runtime.labels_for(spec["namespace"], project=spec["project_slug"], run=spec["run_id"],
                                      role="upgrade-modules")
    name = "ipai-ops-%s-%d-modules" % (spec["namespace"], spec["run_id"])
    try:
        available = upgrade_tools.available_modules(engine, image_id, ["/mnt/extra-addons", "/opt/odoo/addons"],
                                                    name, labels)
    except (RuntimeError, runtime.RuntimeFailure) as exc:
        raise RunFailed("Cannot list the modules of Odoo %s and the code: %s" % (step["to"], exc)) from exc
    apriori = upgrade_tools.apriori(odoo_versions.openupgrade_wheel(spec["openupgrade_dir"], step["to"]))
    moved = set(apriori.get("renamed_modules") or {}) | set(apriori.get("merged_modules") or {})
    installed = {module for module, (state, _v) in postgres.module_states(spec["db"], dbname).items()
                 if state == "installed"}
    nowhere = sorted(installed - available - moved)
    if nowhere:
        raise RunFailed("Before migrating to Odoo %s: these installed modules are neither in Odoo %s nor in the code "
                        "(%s): %s. The migration would leave them behind; put them back in the code (or uninstall "
                        "them from production first)." % (step["to"], step["to"], step["ref"], ", ".join(nowhere)))
    reporter.log("info", "All %d installed modules are in Odoo %s or the code (%s)" % (
        len(installed), step["to"], step["ref"]))


def check_openupgrade(spec, reporter, step, installed):
    """OpenUpgrade's pinned wheels for the step, installed (--no-deps) in a
    directory of their own; every record their scripts load for the
    ``installed`` modules must be in the target's Odoo tree (scripts newer
    than the tree fail on the records it lacks). Returns the directory."""
    try:
        site = openupgrade.prepare_site(spec["openupgrade_dir"], step["to"])
    except RuntimeError as exc:
        raise RunFailed(str(exc)) from exc
    source_dir = (step.get("tool") or {}).get("source_dir")
    if not source_dir or not os.path.isdir(source_dir):
        reporter.log("warning", "No Odoo %s tree on this host to check OpenUpgrade's references against" % step["to"])
        return site
    missing = openupgrade.missing_references(site, source_dir, installed)
    if missing:
        raise RunFailed("OpenUpgrade's scripts (%s) reference records the Odoo %s tree lacks, so the migration would "
                        "fail: %s. A wheel that fits this tree is pinned in services/odoo_versions.py." % (
                            os.path.basename(site), step["to"], ", ".join(sorted({x for _m, x, _f in missing})[:8])))
    reporter.log("info", "OpenUpgrade %s fits the Odoo %s tree: every record its scripts load for the %d installed "
                         "modules is there" % (os.path.basename(site), step["to"], len(installed)))
    return site


def predict_downtime(report, production):
    """Seconds production would be down for the same upgrade (maintenance
    page up to the new container serving): the measured migration, scaled by
    production's database size against the copy's (they differ once
    production grew since the preview), the file-level copy of that size,
    and the new container's start as the preview measured it."""
    copy_bytes = report.get("db_bytes") or 1
    production_bytes = production.get("db_bytes") or copy_bytes
    return int(round(report["migration_seconds"] * production_bytes / copy_bytes
                     + production_bytes / TEMPLATE_COPY_BYTES_PER_SECOND
                     + (report.get("start_seconds") or START_SECONDS)))

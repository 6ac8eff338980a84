"""Development builds: the commit's image, a database of its own (from the
project's template when it can), the modules installed with demo data and
their tests run, then the switch (executors/cutover.py).

The spec (plain dict, made by ops.run._executor_spec):
  namespace (the control plane's prefix on shared servers),
  run_id, run_number, project_id, project_slug, environment_id, branch, stage, repo_url, ref, commit_sha,
  tool_image, modules_mode (own/list/all), module_list, test_tags, mem_limit, nano_cpus,
  db: {host, port, user, password} (admin connection of the control plane),
  db_role, db_role_password (the environment's own PostgreSQL role),
  template_role (the NOLOGIN role owning the project's build templates),
  admin_password (the environment's Odoo administrator password),
  work_root, git_cache, filestore_root, secrets_root, network_settings (executors/network.py),
  current: {container_id, database_name, db_owner, image_digest, internal_url, container_ip} (the build before)
"""

import hashlib
import json
import time

from ..services import env_network, git_repo, naming, odoo_log, odoo_versions, postgres, runtime
from . import cutover, guard, image, node_files, odoo_steps, paths
from .base import RunCanceled, RunFailed


def template_name(spec, tool_image_id, modules):
    """The cached template database for this project, runtime image and
    module set: a build whose modules and image are unchanged starts from it."""
    key = hashlib.sha256(json.dumps([tool_image_id, spec["modules_mode"], sorted(modules), spec.get("test_tags"),
                                     spec["repo_url"]]).encode()).hexdigest()[:12]
    return naming.template_db_name(spec["namespace"], spec["project_id"], key)


def save_template(spec, engine, template, dbname, sha, modules, reporter):
    """A clean install becomes the project's template for later builds
    (copied now, while nothing is connected to the new database). One build
    at a time saves a given template; a build that finds it saved by
    another one meanwhile leaves it as it is."""
    with postgres.advisory_lock(spec["db"], "ipai_ops template %s" % template):
        if postgres.database_comment(spec["db"], template):
            reporter.log("info", "Template %s was saved by another build meanwhile" % template)
            return
        guard.drop_database(spec, template, owners={spec["template_role"]})
        postgres.create_database(spec["db"], template, spec["template_role"], template=dbname)
        postgres.reassign_objects(spec["db"], template, spec["db_role"], spec["template_role"])
        node_files.filestore_to(spec, engine, dbname, paths.template_filestore(spec, template))
        # The comment marks the template complete: written last.
        postgres.set_database_comment(spec["db"], template, json.dumps({"sha": sha, "modules": modules}))
    reporter.log("info", "Saved %s as template %s for the next builds" % (dbname, template))


def _template(spec, engine, modules, sha, reporter):
    """(template name, its metadata or None, the modules to install or update)."""
    if not spec.get("use_template", True):
        return None, None, modules
    template = template_name(spec, engine.image_id(spec["tool_image"]), modules)
    try:
        meta = json.loads(postgres.database_comment(spec["db"], template) or "null")
    except ValueError:
        meta = None
    if not meta:
        return template, None, modules
    try:
        changed_paths = git_repo.changed_paths(spec["repo_url"], meta["sha"], sha, spec["git_cache"])
    except (git_repo.GitError, ValueError) as exc:
        # The template's commit left the repository (a force push): build cold.
        reporter.log("warning", "Template %s not used: %s" % (template, exc))
        return template, None, modules
    changed = sorted({path.split("/", 1)[0] for path in changed_paths} & set(modules))
    reporter.log("info", "Template cache hit: %s (built from %s); modules to update: %s" % (
        template, meta["sha"][:12], ", ".join(changed) or "none"))
    return template, meta, changed


def _install(spec, engine, tag, dbname, to_install, update, reporter):
    """Install (or, on a template copy, update) with demo data and tests;
    returns (log summary, outcome, tests failed)."""
    summary = odoo_log.LogSummary()

    def on_line(line):
        reporter.log(summary.feed(line), line)
        if getattr(reporter, "canceled", False):
            # Seen by the heartbeat: leaving the log stream removes the
            # container (run_to_completion's finally), the switch drops
            # the new database.
            raise RunCanceled()

    # With --test-enable Odoo serves HTTP during the install (for HttpCase),
    # on the loopback of the container's own network namespace.
    command = ["-d", dbname, "--stop-after-init", "--http-interface", "127.0.0.1",
               "--http-port", str(env_network.HTTP_PORT),
               "--log-level", "info", "-u" if update else "-i", ",".join(to_install or ["base"])]
    if odoo_versions.major(spec.get("odoo_version") or "18.0") >= 19:
        command += ["--with-demo"]  # since 19.0 new databases get no demo data unless asked
    if spec.get("test_tags") is not False:
        command += ["--test-enable"]
        tags = spec.get("test_tags") or ",".join("/%s" % m for m in to_install if m != "all")
        if tags:
            command += ["--test-tags", tags]
    reporter.log("info", "%s %s in %s (demo data, tests)" % (
        "Updating" if update else "Installing", ", ".join(to_install) or "base", dbname))
    exit_code, _tail = odoo_steps.run_odoo(spec, engine, tag, command, "init", reporter, on_line=on_line,
                                           mem_limit=spec.get("mem_limit"), nano_cpus=spec.get("nano_cpus"))
    reporter.flush()
    tests_failed = bool(summary.tests and (summary.tests[0] or summary.tests[1]))
    if exit_code != 0 and not tests_failed:
        raise RunFailed("Installing the modules failed (exit code %d)%s" % (exit_code, summary.cause()), exit_code,
                        detail=summary.detail())
    return summary, summary.outcome(exit_code), tests_failed


def execute(spec, reporter, engine=None):
    """Build and start a development environment. Returns a result dict."""
    engine = engine or runtime.for_spec(spec)
    started = time.monotonic()
    current = spec.get("current") or {}
    sha, tag, image_id, modules, _versions = image.build_image(spec, reporter, engine)
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    postgres.ensure_role(spec["db"], spec["template_role"], None, login=False)
    template, template_meta, to_install = _template(spec, engine, modules, sha, reporter)
    summary, result, tests_failed = None, "ok", False
    with cutover.Switch(spec, engine, reporter) as switch:
        # One database per build, owned by the environment's own role.
        dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                    spec["project_slug"], spec["branch"]))
        if template_meta:
            odoo_steps.copy_database(spec, dbname, template, spec["template_role"])
            node_files.place_filestore(spec, engine, paths.template_filestore(spec, template), dbname, reporter)
        else:
            postgres.create_database(spec["db"], dbname, spec["db_role"])
        reporter.update_environment({"state": "building"})
        if to_install or not template_meta:
            summary, result, tests_failed = _install(spec, engine, tag, dbname, to_install, bool(template_meta),
                                                     reporter)
        if template and not template_meta and result != "failed":
            save_template(spec, engine, template, dbname, sha, modules, reporter)
        # Never Odoo's default admin/admin (nor demo/demo) on a reachable URL.
        odoo_steps.secure_admin(spec, dbname, reporter)
        # Failed tests turn the build red, but like on Odoo.sh the environment
        # still starts, so the failure can be looked at.
        reporter.check_canceled()
        try:
            _container, url = switch.go_live(tag, dbname, {
                "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False})
        except RunFailed as exc:
            if not tests_failed:
                raise
            # The build's own result stays the headline; serving it failed too.
            raise RunFailed("Tests failed (%d tests, %d failed, %d errors)%s; and the environment could not be "
                            "served: %s" % (summary.tests[2], summary.tests[0], summary.tests[1], summary.cause(),
                                            exc), exc.exit_code, detail=summary.detail()) from exc
    message = "%s in %.0fs: %s" % ({"ok": "Built", "warning": "Built with warnings",
                                     "failed": "Built, tests failed"}[result], time.monotonic() - started, url)
    if summary and summary.tests:
        message += " (%d tests, %d failed, %d errors)" % (summary.tests[2], summary.tests[0], summary.tests[1])
    failed = result == "failed"
    if failed and summary:
        message += summary.cause()
    return {"exit_code": 1 if tests_failed else 0, "result": result, "message": message,
            "error": message if failed else None, "error_detail": summary.detail() if failed and summary else None}

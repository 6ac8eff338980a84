"""Development builds: checkout, image, database, install + tests, container, health.

The spec (plain dict, made by ops.run._executor_spec):
  namespace (the control plane's prefix on shared servers),
  run_id, run_number, project_slug, environment_id, branch, stage, repo_url, ref, commit_sha,
  tool_image, modules_mode (own/list/all), module_list, test_tags, mem_limit, nano_cpus,
  db: {host, port, user, password} (admin connection of the control plane),
  db_role, db_role_password (the project's own PostgreSQL role),
  work_root, git_cache, filestore_root, port, network_mode,
  current: {container_id, database_name, image_digest, port} (the environment's build before this one)
"""

import ast
import hashlib
import json
import os
import shutil
import time

from ..services import docker_engine, git_repo, naming, odoo_log, postgres
from ..services.filestore import link_tree
from . import guard, serve
from .base import RunCanceled, RunFailed
from .serve import ODOO_UID


def image_tag(spec, sha):
    branch = "".join(c if c.isalnum() else "-" for c in spec["branch"].lower()).strip("-")[:40] or "branch"
    return "ipai-ops/%s:%s-%s" % (spec["project_slug"], branch, sha[:12])


def _modules(spec, tree):
    addons = git_repo.addon_dirs(tree)
    if spec["modules_mode"] == "list":
        return [m.strip() for m in (spec.get("module_list") or "").split(",") if m.strip()]
    if spec["modules_mode"] == "all":
        return ["all"] if not addons else addons
    return addons


def template_name(spec, tool_image_id, modules):
    """The cached template database for this project, runtime image and
    module set: a build whose modules and image are unchanged starts from it."""
    key = hashlib.sha256(json.dumps([tool_image_id, spec["modules_mode"], sorted(modules), spec.get("test_tags"),
                                     spec["repo_url"]]).encode()).hexdigest()[:12]
    return naming.template_db_name(spec["namespace"], spec["project_id"], key)


def copy_database(spec, name, template, template_owner):
    """``name`` as a file-level copy of ``template``, owned by the
    environment's role, objects included (a copy keeps the template's owner
    on every table until it is handed over)."""
    postgres.create_database(spec["db"], name, spec["db_role"], template=template,
                             terminate_template_connections=True)
    postgres.reassign_objects(spec["db"], name, template_owner, spec["db_role"])


def save_template(spec, template, dbname, sha, modules, reporter):
    """A clean install becomes the project's template for later builds
    (copied now, while nothing is connected to the new database). One build
    at a time saves a given template; a build that finds it saved by
    another one meanwhile leaves it as it is."""
    store = os.path.join(spec["filestore_root"], spec["project_slug"], "templates", "filestore", template)
    with postgres.advisory_lock(spec["db"], "ipai_ops template %s" % template):
        if postgres.database_comment(spec["db"], template):
            reporter.log("info", "Template %s was saved by another build meanwhile" % template)
            return
        guard.drop_database(spec, template, owners={spec["template_role"]})
        postgres.create_database(spec["db"], template, spec["template_role"], template=dbname)
        postgres.reassign_objects(spec["db"], template, spec["db_role"], spec["template_role"])
        link_tree(serve.db_filestore(spec, dbname), store)
        # The comment marks the template complete: written last.
        postgres.set_database_comment(spec["db"], template, json.dumps({"sha": sha, "modules": modules}))
    reporter.log("info", "Saved %s as template %s for the next builds" % (dbname, template))


def module_versions(tree, modules):
    """{module: version} from the manifests of an exported tree (literal
    parsing, nothing executed); versions are normalised to 18.0.x.y.z."""
    versions = {}
    for module in modules:
        path = os.path.join(tree, module, "__manifest__.py")
        try:
            with open(path) as fh:
                manifest = ast.literal_eval(fh.read())
            version = str(manifest.get("version") or "1.0")
        except (OSError, ValueError, SyntaxError, AttributeError):
            continue
        versions[module] = version if version.startswith("18.0.") else "18.0." + version
    return versions


def build_image(spec, reporter, engine):
    """Resolve the commit, export it and build the environment's image FROM
    the project's runtime tool. Returns (sha, tag, image id, modules, versions)."""
    naming.validate_branch(spec["branch"])
    reporter.log("info", "Resolving %s in %s" % (spec.get("commit_sha") or spec["ref"], spec["repo_url"]))
    try:
        sha = git_repo.resolve(spec["repo_url"], spec.get("commit_sha") or spec["ref"], spec["git_cache"])
    except (git_repo.GitError, ValueError) as exc:
        raise RunFailed(str(exc)) from exc
    reporter.set_commit(sha)
    workdir = os.path.join(spec["work_root"], "run-%d" % spec["run_id"])
    shutil.rmtree(workdir, ignore_errors=True)
    tree = os.path.join(workdir, "addons")
    try:
        git_repo.export(spec["repo_url"], sha, tree, spec["git_cache"])
        modules = _modules(spec, tree)
        versions = module_versions(tree, modules)
        reporter.log("info", "Commit %s: modules %s" % (sha[:12], ", ".join(modules) or "(none)"))
        reporter.check_canceled()
        tag = image_tag(spec, sha)
        with open(os.path.join(workdir, "Dockerfile"), "w") as fh:
            fh.write("FROM %s\nCOPY --chown=%d:%d addons/ /mnt/extra-addons/\n" % (spec["tool_image"], ODOO_UID,
                                                                                   ODOO_UID))
            if os.path.exists(os.path.join(tree, "requirements.txt")):
                fh.write("USER root\nRUN pip3 install --break-system-packages -r /mnt/extra-addons/requirements.txt"
                         "\nUSER odoo\n")
        reporter.log("info", "Building image %s FROM %s" % (tag, spec["tool_image"]))
        image_id = engine.build(workdir, tag, labels=serve.labels(spec, "image"),
                                on_line=lambda line: reporter.log("debug", line))
        reporter.artifact("image", tag, sha256=image_id.split(":", 1)[-1], content_type="application/vnd.docker.image")
        reporter.check_canceled()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return sha, tag, image_id, modules, versions


def execute(spec, reporter, engine=None):
    """Build and start a development environment. Returns a result dict."""
    engine = engine or docker_engine.DockerEngine(spec.get("docker_url"))
    started = time.monotonic()

    # 1. the commit, 2. the image
    sha, tag, image_id, modules, _versions = build_image(spec, reporter, engine)

    # 3. the database: one per build, owned by the environment's own role; from
    #    the cached template when the image and the module set are unchanged
    dbname = naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"], spec["project_slug"],
                                spec["branch"])
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    postgres.ensure_role(spec["db"], spec["template_role"], None, login=False)
    guard.drop_database(spec, dbname)
    filestore = serve.env_filestore(spec)
    template_store = os.path.join(spec["filestore_root"], spec["project_slug"], "templates")
    os.makedirs(template_store, exist_ok=True)
    os.chown(template_store, ODOO_UID, ODOO_UID)
    volumes = serve.volumes(spec)
    template = template_name(spec, engine.image_id(spec["tool_image"]), modules) if spec.get("use_template", True) \
        else None
    template_meta = None
    if template:
        try:
            template_meta = json.loads(postgres.database_comment(spec["db"], template) or "null")
        except ValueError:
            template_meta = None
    to_install = modules
    if template_meta:
        try:
            changed_paths = git_repo.changed_paths(spec["repo_url"], template_meta["sha"], sha, spec["git_cache"])
        except (git_repo.GitError, ValueError) as exc:
            # The template's commit left the repository (a force push): build cold.
            reporter.log("warning", "Template %s not used: %s" % (template, exc))
            template_meta = None
    if template_meta:
        changed = sorted({path.split("/", 1)[0] for path in changed_paths} & set(modules))
        reporter.log("info", "Template cache hit: %s (built from %s); modules to update: %s" % (
            template, template_meta["sha"][:12], ", ".join(changed) or "none"))
        copy_database(spec, dbname, template, spec["template_role"])
        link_tree(os.path.join(template_store, "filestore", template), os.path.join(filestore, "filestore", dbname))
        to_install = changed
    else:
        postgres.create_database(spec["db"], dbname, spec["db_role"])
    reporter.update_environment({"state": "building"})
    try:
        summary = odoo_log.LogSummary()

        def on_line(line):
            reporter.log(summary.feed(line), line)
            if getattr(reporter, "canceled", False):
                # Seen by the heartbeat: leaving the log stream removes the
                # container (run_to_completion's finally), the except below
                # drops the new database.
                raise RunCanceled()

        # With --test-enable Odoo serves HTTP during the install (for HttpCase):
        # on the host network it gets the build's own port, on the loopback.
        exit_code, result, tests_failed = 0, "ok", False
        if to_install or not template_meta:
            command = ["-d", dbname, "--stop-after-init", "--http-interface", "127.0.0.1",
                       "--http-port", str(spec["port"]), "--log-level", "info"]
            # A fresh database installs; one copied from the template updates.
            command += ["-u" if template_meta else "-i", ",".join(to_install or ["base"])]
            if spec.get("test_tags") is not False:
                command += ["--test-enable"]
                tags = spec.get("test_tags") or ",".join("/%s" % m for m in to_install if m != "all")
                if tags:
                    command += ["--test-tags", tags]
            reporter.log("info", "%s %s in %s (demo data, tests)" % (
                "Updating" if template_meta else "Installing", ", ".join(to_install) or "base", dbname))
            exit_code, _tail = serve.run_odoo(spec, engine, tag, command, "init", reporter, on_line=on_line,
                                              volumes=volumes, mem_limit=spec.get("mem_limit"),
                                              nano_cpus=spec.get("nano_cpus"))
            reporter.flush()
            result = summary.outcome(exit_code)
            tests_failed = bool(summary.tests and (summary.tests[0] or summary.tests[1]))
            if exit_code != 0 and not tests_failed:
                raise RunFailed("Installing the modules failed (exit code %d); see the log" % exit_code, exit_code)
        if template and not template_meta and result != "failed":
            save_template(spec, template, dbname, sha, modules, reporter)
        # Never Odoo's default admin/admin (nor demo/demo) on a reachable URL.
        serve.secure_admin(spec, dbname, reporter)
        # Failed tests turn the build red, but like on Odoo.sh the environment
        # still starts, so the failure can be looked at.
        reporter.check_canceled()

        # 4. the environment's container, on the same port
        port = spec["port"]
        container_id, url = serve.serve(spec, engine, tag, dbname, port, reporter)
    except Exception:
        guard.drop_database(spec, dbname)
        shutil.rmtree(serve.db_filestore(spec, dbname), ignore_errors=True)
        raise

    # 5. switch: the environment now points at the new build; the old one goes.
    current = spec.get("current") or {}
    reporter.update_environment({
        "state": "running", "url": url, "port": port, "container_id": container_id, "database_name": dbname,
        "host": spec.get("host") or False, "db_role": spec["db_role"],
        "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
    })
    if current.get("container_id") and current["container_id"] != container_id:
        guard.remove_container(engine, spec, current["container_id"])
    if current.get("database_name") and current["database_name"] != dbname:
        guard.drop_database(spec, current["database_name"])
        shutil.rmtree(serve.db_filestore(spec, current["database_name"]), ignore_errors=True)
    message = "%s in %.0fs: %s" % ({"ok": "Built", "warning": "Built with warnings",
                                     "failed": "Built, tests failed"}[result], time.monotonic() - started, url)
    if summary.tests:
        message += " (%d tests, %d failed, %d errors)" % (summary.tests[2], summary.tests[0], summary.tests[1])
    return {"exit_code": 1 if tests_failed else 0, "result": result, "message": message,
            "error": message if result == "failed" else None}

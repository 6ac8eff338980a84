"""Production deploys and rollbacks.

A deploy puts an image on production: the exact image a staging build ran
when it is promoted (``promote_image`` in the spec), else an image built
from the production branch. The first deploy installs the project's
modules without demo data. Later deploys:

1. (the backup module, when installed, takes a pre-deploy backup first)
2. stop the production container (the only downtime starts here);
3. copy the production database with CREATE DATABASE ... TEMPLATE (a
   file-level copy) and hard-link its filestore;
4. update only the modules whose manifest version changed (install new ones)
   in the copy, with the new image;
5. start the new container on the same port and wait until it answers;
6. on any failure: remove the new container and database and start the old
   container again: the old image on the untouched pre-deploy database.

The database from before the deploy is kept as the environment's previous
database: a rollback swaps back to it and to the previous image.
"""

import os
import shutil

from ..services import docker_engine, filestore, git_repo, http_health, naming, odoo_log, postgres
from . import build, guard, serve
from .base import RunFailed
from .credentials import role_connection


def module_changes(spec, dbname, modules, versions, reporter):
    """The odoo arguments that bring ``dbname`` to the manifest ``versions``:
    ``-u`` only the modules whose version changed, ``-i`` the new ones."""
    conn = role_connection(spec, dbname)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' AND name = ANY(%s)",
                       [list(modules)])
            installed = dict(cr.fetchall())
    finally:
        conn.close()
    to_install = sorted(m for m in modules if m not in installed)
    to_update = sorted(m for m in modules if m in installed and installed[m] != versions.get(m))
    reporter.log("info", "Modules to update (version changed): %s; to install: %s" % (
        ", ".join("%s %s -> %s" % (m, installed[m], versions.get(m)) for m in to_update) or "none",
        ", ".join(to_install) or "none"))
    return (["-u", ",".join(to_update)] if to_update else []) + (["-i", ",".join(to_install)] if to_install else [])


def _tree_versions(spec, sha):
    """Module versions at ``sha`` (for a promoted image, which is not rebuilt)."""
    workdir = os.path.join(spec["work_root"], "run-%d-versions" % spec["run_id"])
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        git_repo.export(spec["repo_url"], sha, workdir, spec["git_cache"])
        modules = build._modules(spec, workdir)
        return modules, build.module_versions(workdir, modules)
    except (git_repo.GitError, ValueError) as exc:
        raise RunFailed(str(exc)) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_filestore = serve.db_filestore


def _run_odoo(spec, engine, image, dbname, args, reporter, what):
    summary = odoo_log.LogSummary()
    exit_code, _tail = serve.run_odoo(
        spec, engine, image, ["-d", dbname, "--stop-after-init", "--no-http", "--log-level", "info",
                              "--without-demo", "all", *args], what, reporter,
        on_line=lambda line: reporter.log(summary.feed(line), line), mem_limit=spec.get("mem_limit"),
        nano_cpus=spec.get("nano_cpus"))
    reporter.flush()
    return exit_code


def _image(spec, reporter, engine):
    if spec.get("promote_image"):
        image_id = engine.image_id(spec["promote_image"])
        if not image_id:
            raise RunFailed("The image to promote (%s) is no longer on this host." % spec["promote_image"])
        sha = spec.get("commit_sha")
        if not sha:
            raise RunFailed("A promotion needs the commit its image was built from.")
        reporter.set_commit(sha)
        modules, versions = _tree_versions(spec, sha)
        reporter.log("info", "Promoting image %s (commit %s) as it ran in %s, not rebuilt" % (
            image_id, sha[:12], spec.get("promote_from") or "staging"))
        return sha, image_id, modules, versions
    sha, _tag, image_id, modules, versions = build.build_image(spec, reporter, engine)
    return sha, image_id, modules, versions


def execute(spec, reporter, engine=None):
    """Build or deploy an environment, by its stage."""
    if spec.get("stage") == "staging":
        from . import staging

        return staging.execute(spec, reporter, engine)
    if spec.get("stage") != "production":
        return build.execute(spec, reporter, engine)
    engine = engine or docker_engine.DockerEngine(spec.get("docker_url"))
    current = spec.get("current") or {}
    sha, image_id, modules, versions = _image(spec, reporter, engine)
    reporter.check_canceled()
    dbname = naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"], spec["project_slug"],
                                spec["branch"])
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    old_db = current.get("database_name")
    if not old_db:
        return _first_deploy(spec, reporter, engine, image_id, dbname, modules)

    args = module_changes(spec, old_db, modules, versions, reporter)
    port = current.get("port") or spec["port"]
    old_container = current.get("container_id")
    if old_container:
        reporter.log("info", "Stopping production to copy its database")
        engine.stop(old_container)
    new_container = None
    try:
        guard.drop_database(spec, dbname)
        build.copy_database(spec, dbname, old_db, current.get("db_owner") or spec["db_role"])
        filestore.link_tree(_filestore(spec, old_db), _filestore(spec, dbname))
        reporter.log("info", "Copied %s to %s (with a hard-linked filestore)" % (old_db, dbname))
        if args:
            exit_code = _run_odoo(spec, engine, image_id, dbname, args, reporter, "update")
            if exit_code != 0:
                raise RunFailed("Updating the modules failed (exit code %d)" % exit_code)
        serve.secure_admin(spec, dbname, reporter, only_if_default=True)
        new_container, url = serve.serve(spec, engine, image_id, dbname, port, reporter)
    except Exception as exc:
        reporter.log("error", "Deploy failed (%s); rolling back to the previous image and database" % exc)
        if new_container:
            guard.remove_container(engine, spec, new_container)
        guard.drop_database(spec, dbname)
        shutil.rmtree(_filestore(spec, dbname), ignore_errors=True)
        if old_container:
            engine.start_existing(old_container)
            try:
                http_health.wait_until_healthy("http://127.0.0.1:%d" % port, "/web/login", timeout=120,
                                               database=old_db)
                reporter.log("info", "Production is back on %s with its previous image" % old_db)
            except TimeoutError:
                reporter.log("error", "The previous container did not answer after the rollback")
        if isinstance(exc, RunFailed):
            raise RunFailed("%s; rolled back automatically" % exc) from exc
        raise
    reporter.update_environment({
        "state": "running", "url": url, "port": port, "container_id": new_container, "database_name": dbname,
        "host": spec.get("host") or False, "image_digest": image_id, "db_role": spec["db_role"],
        "previous_image_digest": current.get("image_digest") or False, "previous_database_name": old_db,
    })
    if old_container and old_container != new_container:
        guard.remove_container(engine, spec, old_container)
    older = current.get("previous_database_name")
    if older and older not in (old_db, dbname):
        guard.drop_database(spec, older)
        shutil.rmtree(_filestore(spec, older), ignore_errors=True)
    return {"exit_code": 0, "result": "ok", "message": "Deployed %s on %s: %s" % (sha[:12], dbname, url)}


def _first_deploy(spec, reporter, engine, image_id, dbname, modules):
    guard.drop_database(spec, dbname)
    postgres.create_database(spec["db"], dbname, spec["db_role"])
    container = None
    try:
        reporter.log("info", "First deploy: installing %s without demo data" % (", ".join(modules) or "base"))
        exit_code = _run_odoo(spec, engine, image_id, dbname, ["-i", ",".join(modules or ["base"])], reporter,
                              "install")
        if exit_code != 0:
            raise RunFailed("Installing the modules failed (exit code %d)" % exit_code)
        serve.secure_admin(spec, dbname, reporter)
        container, url = serve.serve(spec, engine, image_id, dbname, spec["port"], reporter)
    except Exception:
        guard.drop_database(spec, dbname)
        shutil.rmtree(_filestore(spec, dbname), ignore_errors=True)
        raise
    reporter.update_environment({"state": "running", "url": url, "port": spec["port"], "container_id": container,
                                 "database_name": dbname, "host": spec.get("host") or False,
                                 "db_role": spec["db_role"], "image_digest": image_id, "previous_image_digest": False})
    return {"exit_code": 0, "result": "ok", "message": "First deploy on %s: %s" % (dbname, url)}


def rollback(spec, reporter, engine=None):
    """Swap production back to the previous image and the database as it
    was before the last deploy; the current ones become the previous ones,
    so a rollback can itself be undone."""
    engine = engine or docker_engine.DockerEngine(spec.get("docker_url"))
    current = spec.get("current") or {}
    image, dbname = current.get("previous_image_digest"), current.get("previous_database_name")
    if not image or not dbname:
        raise RunFailed("Nothing to roll back to: this environment has no previous deploy.")
    if not engine.image_id(image):
        raise RunFailed("The previous image %s is no longer on this host." % image)
    owner = postgres.database_owner(spec["db"], dbname)
    if not owner:
        raise RunFailed("The previous database %s is gone." % dbname)
    if owner not in guard.env_owners(spec):
        raise RunFailed("Refusing to roll back to database %s: it belongs to role %s, not to this environment."
                        % (dbname, owner))
    # A database from before per-environment roles becomes the environment's own.
    postgres.adopt_database(spec["db"], dbname, spec["db_role"])
    port = current.get("port") or spec["port"]
    if current.get("container_id"):
        engine.stop(current["container_id"])
    try:
        container, url = serve.serve(spec, engine, image, dbname, port, reporter)
    except Exception:
        if current.get("container_id"):
            engine.start_existing(current["container_id"])
        raise
    reporter.update_environment({
        "state": "running", "url": url, "port": port, "container_id": container, "database_name": dbname,
        "image_digest": image, "previous_image_digest": current.get("image_digest") or False,
        "previous_database_name": current.get("database_name") or False, "db_role": spec["db_role"],
    })
    if current.get("container_id"):
        guard.remove_container(engine, spec, current["container_id"])
    return {"exit_code": 0, "result": "ok", "message": "Rolled back to %s on %s: %s" % (image[:19], dbname, url)}

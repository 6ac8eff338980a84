"""Staging builds: a fresh, neutralized copy of production per build.

Spec additions (ops.run._executor_spec):
  staging_source: {kind: live|template, database, filestore, label} or None
  (and its owner: the production environment's role)
      live: production's current database, copied while production keeps
            serving (pg_dump of one snapshot, parallel, only ACCESS SHARE
            locks: no connection is terminated, no write is blocked);
      template: the copy the backup module's restore drill last verified,
            copied with CREATE DATABASE ... TEMPLATE (seconds);
  staging_mode: "copy" (default) or "update" (keep the current staging
      database, update its modules: the project's "update the current build")
  obfuscate: bool, scrub_sql: [statements] (the obfuscation key is made per build and never kept)
  mail: {host, port, user, password} the mail catcher, or None

A database is never reused between builds: each gets its own name, and the
previous staging database goes only once the new build answers.
"""

import os
import shutil
import time

import psycopg2

from ..services import docker_engine, filestore, naming, postgres
from . import build, credentials, deploy, guard, serve
from .base import RunFailed

# Odoo's obfuscate takes its key only as --pwd, which `ps` would show: this
# reads it from a file instead and hands it over inside the process.
_OBFUSCATE = (
    "import sys\n"
    "key = open(sys.argv[1]).read().strip()\n"
    "sys.argv = ['odoo', 'obfuscate', *sys.argv[2:], '--pwd', key]\n"
    "sys.path.insert(0, '/opt/odoo')\n"
    "import odoo.cli\n"
    "odoo.cli.main()\n"
)
_KEY_PATH = "/run/ipai-ops/obfuscate.key"


def point_mail_at_catcher(spec, dbname, mail):
    """After neutralize: the only active outgoing mail server is the catcher
    (neutralize's own dummy server, repointed)."""
    conn = credentials.role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("UPDATE ir_mail_server SET active = false")
            if mail:
                cr.execute("""
                    UPDATE ir_mail_server
                       SET active = true, name = 'ipai ops mail catcher', smtp_host = %s, smtp_port = %s,
                           smtp_user = %s, smtp_pass = %s, smtp_encryption = 'none', smtp_authentication = 'login'
                     WHERE name = 'neutralization - disable emails'
                """, [mail["host"], mail["port"], mail["user"], mail["password"]])
    finally:
        conn.close()


def scrub(spec, dbname, statements, reporter):
    """The project's SQL scrub hooks, as the project's role, in one transaction."""
    if not statements:
        return
    conn = credentials.role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            for statement in statements:
                reporter.log("info", "Scrub: %s" % statement[:200])
                cr.execute(statement)
    except psycopg2.Error as exc:
        raise RunFailed("A scrub statement failed: %s" % str(exc).strip()) from exc
    finally:
        conn.close()


def obfuscate(spec, engine, image, dbname, reporter):
    """Odoo's own ``obfuscate``, with its own list of personal fields
    (partners' names, emails, phones, addresses; messages; leads) unless the
    spec names others. The key is random, made for this build only and
    removed once obfuscate is done: nobody can reverse the obfuscation."""
    fields = ["--fields", spec["obfuscate_fields"]] if spec.get("obfuscate_fields") else []
    with credentials.KeyFile(spec, "obfuscate.key") as key:
        volumes = dict(serve.volumes(spec), **{key.path: {"bind": _KEY_PATH, "mode": "ro"}})
        exit_code, tail = serve.run_odoo(spec, engine, image, [_KEY_PATH, "-d", dbname, *fields, "-y"], "obfuscate",
                                         reporter, volumes=volumes, entrypoint=["python3", "-c", _OBFUSCATE])
    if exit_code != 0:
        raise RunFailed("odoo obfuscate failed (exit code %d): %s" % (exit_code, " | ".join(tail[-5:])))


def execute(spec, reporter, engine=None):
    source = spec.get("staging_source")
    if not source:
        reporter.log("info", "No production database yet: a fresh staging build")
        return build.execute(spec, reporter, engine)
    engine = engine or docker_engine.DockerEngine(spec.get("docker_url"))
    started = time.monotonic()
    current = spec.get("current") or {}
    sha, tag, image_id, modules, versions = build.build_image(spec, reporter, engine)
    dbname = naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"], spec["project_slug"],
                                spec["branch"])
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    guard.drop_database(spec, dbname)
    target_store = serve.db_filestore(spec, dbname)
    update_only = spec.get("staging_mode") == "update" and current.get("database_name")
    copy_started = time.monotonic()
    try:
        if update_only:
            # "Update the current build": the data stays, the database is copied
            # (never reused in place) so the running build is untouched.
            reporter.log("info", "Updating the current staging data (%s) with the new commit"
                         % current["database_name"])
            if current.get("container_id"):
                engine.stop(current["container_id"])
            build.copy_database(spec, dbname, current["database_name"], current.get("db_owner") or spec["db_role"])
            link = filestore.link_tree(serve.db_filestore(spec, current["database_name"]), target_store)
            label = current.get("data_source") or "previous staging build"
        elif source["kind"] == "template":
            reporter.log("info", "Copying %s" % source["label"])
            build.copy_database(spec, dbname, source["database"], source["owner"])
            link = filestore.link_tree(source["filestore"], target_store)
            label = source["label"]
        else:
            reporter.log("info", "Copying production (%s) while it keeps serving" % source["database"])
            postgres.create_database(spec["db"], dbname, spec["db_role"])
            workdir = os.path.join(spec["work_root"], "run-%d-copy" % spec["run_id"])
            try:
                # Read by the control plane's user (a member of production's
                # role), written by staging's role: staging owns its copy and
                # never holds production's credentials.
                timing = filestore.copy_database_live(
                    dict(spec["db"], user=spec["db_role"], password=spec["db_role_password"]), source["database"],
                    dbname, workdir, jobs=spec.get("copy_jobs", 2), source_conn=spec["db"])
            except RuntimeError as exc:
                raise RunFailed("Copying production failed: %s" % exc) from exc
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            link = filestore.link_tree(source["filestore"], target_store)
            reporter.log("info", "Database copied in %.1fs (dump %.1fs, restore %.1fs)" % (
                timing["total"], timing["dump"], timing["restore"]))
            label = source["label"]
        reporter.log("info", "Filestore: %d files %s" % (link["files"], "hard-linked" if link["linked"] == link["files"]
                                                          else "copied (%d linked)" % link["linked"]))
        reporter.log("info", "Data ready in %.1fs" % (time.monotonic() - copy_started))
        reporter.check_canceled()

        # Never let a staging build act on the outside world.
        serve.neutralize(spec, engine, image_id, dbname, reporter)
        point_mail_at_catcher(spec, dbname, spec.get("mail"))
        if spec.get("obfuscate"):
            obfuscate(spec, engine, image_id, dbname, reporter)
        scrub(spec, dbname, spec.get("scrub_sql") or [], reporter)
        serve.secure_admin(spec, dbname, reporter)

        args = deploy.module_changes(spec, dbname, modules, versions, reporter)
        if args:
            if deploy._run_odoo(spec, engine, image_id, dbname, args, reporter, "update") != 0:
                raise RunFailed("Updating the modules on the staging copy failed; see the log")
        port = current.get("port") if update_only and current.get("port") else spec["port"]
        container_id, url = serve.serve(spec, engine, image_id, dbname, port, reporter)
    except BaseException:
        guard.drop_database(spec, dbname)
        shutil.rmtree(target_store, ignore_errors=True)
        if update_only and current.get("container_id"):
            engine.start_existing(current["container_id"])
        raise
    reporter.update_environment({
        "state": "running", "url": url, "port": port, "container_id": container_id, "database_name": dbname,
        "host": spec.get("host") or False, "image_digest": image_id, "db_role": spec["db_role"],
        "previous_image_digest": current.get("image_digest") or False, "data_source": label,
    })
    if current.get("container_id") and current["container_id"] != container_id:
        guard.remove_container(engine, spec, current["container_id"])
    if current.get("database_name") and current["database_name"] != dbname:
        guard.drop_database(spec, current["database_name"])
        shutil.rmtree(serve.db_filestore(spec, current["database_name"]), ignore_errors=True)
    return {"exit_code": 0, "result": "ok", "message": "Staging build of %s in %.0fs from %s: %s" % (
        sha[:12], time.monotonic() - started, label, url)}

"""Staging builds: a fresh, neutralized copy of production per build.

Spec additions (ops.run._executor_spec):
  staging_source: {kind: live|template, database, filestore, label} or None
      live: production's current database, copied while production keeps
            serving (pg_dump of one snapshot, parallel, only ACCESS SHARE
            locks: no connection is terminated, no write is blocked);
      template: the copy the backup module's restore drill last verified,
            copied with CREATE DATABASE ... TEMPLATE (seconds);
  staging_mode: "copy" (default) or "update" (keep the current staging
      database, update its modules: the project's "update the current build")
  obfuscate: bool, obfuscate_password, scrub_sql: [statements]
  mail: {host, port, user, password} the mail catcher, or None

A database is never reused between builds: each gets its own name, and the
previous staging database goes only once the new build answers.
"""

import os
import shutil
import time

import psycopg2

from ..services import docker_engine, filestore, naming, postgres
from . import build, deploy, serve
from .base import RunFailed


def point_mail_at_catcher(spec, dbname, mail):
    """After neutralize: the only active outgoing mail server is the catcher
    (neutralize's own dummy server, repointed)."""
    conn = deploy.role_connection(spec, dbname)
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
    conn = deploy.role_connection(spec, dbname)
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
    spec names others."""
    fields = ["--fields", spec["obfuscate_fields"]] if spec.get("obfuscate_fields") else []
    exit_code, tail = engine.run_to_completion(
        image, ["obfuscate", "-d", dbname, *serve.db_args(spec), "--pwd", spec["obfuscate_password"], *fields, "-y"],
        "ipai-ops-obfuscate-%s-%d" % (spec["project_slug"], spec["run_id"]), serve.labels(spec, "obfuscate"),
        on_line=lambda line: reporter.log("debug", line), volumes=serve.volumes(spec),
        network_mode=spec.get("network_mode", "host"))
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
    dbname = naming.db_name_for(spec["namespace"], spec["project_slug"], spec["branch"], spec["run_number"])
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    postgres.drop_database(spec["db"], dbname)
    target_store = os.path.join(serve.env_filestore(spec), "filestore", dbname)
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
            postgres.create_database(spec["db"], dbname, spec["db_role"], template=current["database_name"],
                                     terminate_template_connections=True)
            link = filestore.link_tree(os.path.join(serve.env_filestore(spec), "filestore", current["database_name"]),
                                       target_store)
            label = current.get("data_source") or "previous staging build"
        elif source["kind"] == "template":
            reporter.log("info", "Copying %s" % source["label"])
            postgres.create_database(spec["db"], dbname, spec["db_role"], template=source["database"],
                                     terminate_template_connections=True)
            link = filestore.link_tree(source["filestore"], target_store)
            label = source["label"]
        else:
            reporter.log("info", "Copying production (%s) while it keeps serving" % source["database"])
            postgres.create_database(spec["db"], dbname, spec["db_role"])
            workdir = os.path.join(spec["work_root"], "run-%d-copy" % spec["run_id"])
            try:
                timing = filestore.copy_database_live(
                    dict(spec["db"], user=spec["db_role"], password=spec["db_role_password"]), source["database"],
                    dbname, workdir, jobs=spec.get("copy_jobs", 2))
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

        args = deploy.module_changes(spec, dbname, modules, versions, reporter)
        if args:
            if deploy._run_odoo(spec, engine, image_id, dbname, args, reporter, "update") != 0:
                raise RunFailed("Updating the modules on the staging copy failed; see the log")
        port = current.get("port") if update_only and current.get("port") else spec["port"]
        container_id, url = serve.serve(spec, engine, image_id, dbname, port, reporter,
                                        extra_args=serve.mail_args(spec.get("mail")))
    except BaseException:
        postgres.drop_database(spec["db"], dbname)
        shutil.rmtree(target_store, ignore_errors=True)
        if update_only and current.get("container_id"):
            engine.start_existing(current["container_id"])
        raise
    reporter.update_environment({
        "state": "running", "url": url, "port": port, "container_id": container_id, "database_name": dbname,
        "host": spec.get("host") or False, "image_digest": image_id,
        "previous_image_digest": current.get("image_digest") or False, "data_source": label,
    })
    if current.get("container_id") and current["container_id"] != container_id:
        engine.remove_container(current["container_id"])
    if current.get("database_name") and current["database_name"] != dbname:
        postgres.drop_database(spec["db"], current["database_name"])
        shutil.rmtree(os.path.join(serve.env_filestore(spec), "filestore", current["database_name"]),
                      ignore_errors=True)
    return {"exit_code": 0, "result": "ok", "message": "Staging build of %s in %.0fs from %s: %s" % (
        sha[:12], time.monotonic() - started, label, url)}

"""Staging builds: a fresh, neutralized copy of production per build.

Spec additions (ops.run._executor_spec):
  staging_source: {kind: live|template, database, filestore, label, owner, server, node} or None
      node: {name, docker_url} when ``filestore`` is on the disk of the
            node production runs on (ops.host.node.storage "own"), None
            when it is the platform's
      server: the connection values of the server holding ``database``
            (production's cluster, or the shared one); a template on
            another server than staging's is copied like a live database;
      live: production's current database, copied while production keeps
            serving (pg_dump of one snapshot, parallel, only ACCESS SHARE
            locks: no connection is terminated, no write is blocked);
      template: the copy the backup module's restore drill last verified,
            copied with CREATE DATABASE ... TEMPLATE (seconds);
  staging_mode: "copy" (default), "update" (keep the current staging
      database, update its modules: the project's "update the current build")
      or "upgrade" (an upgrade preview's build: executors/upgrade_mode.py)
  obfuscate: bool, scrub_sql: [statements] (the obfuscation key is made per build and never kept)
  mail: {host, port, user, password} the mail catcher, or None

A database is never reused between builds: each gets its own name, and the
previous staging database goes only once the new build answers. With no
production yet, a staging build is a plain build (executors/build.py).
"""

import shutil
import time

from ..services import filestore, naming, postgres, runtime
from . import build, cutover, image, node_files, odoo_steps, paths
from .base import RunFailed


def _copy_data(spec, switch, source, dbname, update_only):
    """The new staging database's data; returns its label."""
    current = spec.get("current") or {}
    if update_only:
        # "Update the current build": the data stays, the database is copied
        # (never reused in place) so the running build is untouched.
        switch.stop_old("Updating the current staging data (%s) with the new commit" % current["database_name"])
        odoo_steps.copy_database(spec, dbname, current["database_name"], current.get("db_owner") or spec["db_role"])
        link = node_files.link_filestore(spec, switch.engine, current["database_name"], dbname)
        label = current.get("data_source") or "previous staging build"
    elif source["kind"] == "template" and source.get("server", spec["db"]) == spec["db"]:
        switch.reporter.log("info", "Copying %s" % source["label"])
        odoo_steps.copy_database(spec, dbname, source["database"], source["owner"])
        link = node_files.place_filestore(spec, switch.engine, source["filestore"], dbname, switch.reporter,
                                          source.get("node"))
        label = source["label"]
    else:
        switch.reporter.log("info", "Copying production (%s) while it keeps serving" % source["database"])
        postgres.create_database(spec["db"], dbname, spec["db_role"])
        workdir = paths.work_dir(spec, "copy")
        try:
            # Read by the control plane's user (a member of production's
            # role), written by staging's role: staging owns its copy and
            # never holds production's credentials.
            timing = filestore.copy_database_live(
                dict(spec["db"], user=spec["db_role"], password=spec["db_role_password"]), source["database"],
                dbname, workdir, jobs=spec.get("copy_jobs", 2), source_conn=source.get("server") or spec["db"])
        except RuntimeError as exc:
            raise RunFailed("Copying production failed: %s" % exc) from exc
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        link = node_files.place_filestore(spec, switch.engine, source["filestore"], dbname, switch.reporter,
                                          source.get("node"))
        switch.reporter.log("info", "Database copied in %.1fs (dump %.1fs, restore %.1fs)" % (
            timing["total"], timing["dump"], timing["restore"]))
        label = source["label"]
    if link and link["files"] is not None:  # (a copy between machines or on a node says its size itself)
        switch.reporter.log("info", "Filestore: %d files %s" % (link["files"], "hard-linked" if link["linked"] == link[
            "files"] else "copied (%d linked)" % link["linked"]))
    return label


def execute(spec, reporter, engine=None):
    if spec.get("staging_mode") == "upgrade":
        from . import upgrade_mode  # it reuses this module's copy of the data

        return upgrade_mode.execute(spec, reporter, engine)
    source = spec.get("staging_source")
    if not source:
        reporter.log("info", "No production database yet: a fresh staging build")
        return build.execute(spec, reporter, engine)
    engine = engine or runtime.for_spec(spec)
    started = time.monotonic()
    current = spec.get("current") or {}
    sha, _tag, image_id, modules, versions = image.build_image(spec, reporter, engine)
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    update_only = bool(spec.get("staging_mode") == "update" and current.get("database_name"))
    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                    spec["project_slug"], spec["branch"]))
        copy_started = time.monotonic()
        label = _copy_data(spec, switch, source, dbname, update_only)
        reporter.log("info", "Data ready in %.1fs" % (time.monotonic() - copy_started))
        reporter.check_canceled()
        # Never let a staging build act on the outside world.
        odoo_steps.neutralize_copy(spec, engine, image_id, dbname, reporter)
        args = odoo_steps.module_changes(spec, dbname, modules, versions, reporter)
        if args:
            odoo_steps.change_modules(spec, engine, image_id, dbname, args, reporter, "update",
                                      "Updating the modules on the staging copy failed")
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "data_source": label})
    return {"exit_code": 0, "result": "ok", "message": "Staging build of %s in %.0fs from %s: %s" % (
        sha[:12], time.monotonic() - started, label, url)}

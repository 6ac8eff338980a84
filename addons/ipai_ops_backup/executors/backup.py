"""Backup, restore and restore-drill runs.

Spec: the core spec (see ipai_ops_core/executors/build.py) plus, made by
the backup module's ops.run._executor_spec:
  backup: {id, path}                         the backup a backup run takes
  pre_backup: {id, path} or None             restore: taken first, if the target has data
  source: {kind: backup|zip, path, id, manifest}   restore and drill
          {kind: pitr, at, database, filestore, pitr: {production's cluster}}
              restore: production's database as it was at ``at`` (services/pitr.py)
  neutralize: bool                           restore into development / staging
  drill_template: name                       drill: where a verified copy is kept
Every backup record change goes through reporter.update_record, committed
before the next side effect.
"""

import json
import os
import shutil
import time

import psycopg2
from odoo.addons.ipai_ops_core.executors import credentials, cutover, guard, network, node_files, odoo_steps, paths
from odoo.addons.ipai_ops_core.executors.base import RunFailed
from odoo.addons.ipai_ops_core.services import naming, odoo_config, postgres, runtime

from ..services import backup_store, pg_cluster, pgbackrest, pitr, pitr_drill, storage


def _now():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def _role_conn(spec):
    return dict(spec["db"], user=spec["db_role"], password=spec["db_role_password"])


_db_filestore = paths.db_filestore


def take_backup(spec, reporter, target, dbname, engine=None):
    """Back up ``dbname`` into ``target`` = {id, path}; records the result.
    The filestore is read where it is (from a node with its own disk: a
    copy pulled from there, executors/node_files.py)."""
    reporter.update_record("ops.backup", target["id"], {"state": "running", "started_at": _now(),
                                                        "location": target["path"]}, only_if_empty=("started_at",))
    reporter.log("info", "Backing up %s into %s" % (dbname, target["path"]))
    os.makedirs(os.path.dirname(target["path"]), exist_ok=True)
    current = spec.get("current") or {}
    try:
        # Read as the control plane's user (a member of every environment's
        # role): it also reads a database an older installation's shared role owns.
        with node_files.local_filestore(spec, engine, dbname) as store:
            manifest = backup_store.create(
                spec["db"], dbname, store, target["path"],
                meta={"project": spec["project_slug"], "environment_id": spec["environment_id"],
                      "branch": spec["branch"], "stage": spec["stage"], "commit_sha": spec.get("env_commit_sha"),
                      "image_digest": current.get("image_digest")})
    except (backup_store.BackupError, OSError, ValueError) as exc:
        reporter.update_record("ops.backup", target["id"], {"state": "failed", "finished_at": _now(),
                                                            "error_message": str(exc)})
        raise RunFailed("Backup failed: %s" % exc) from exc
    digest = backup_store.sha256_file(os.path.join(target["path"], backup_store.MANIFEST))
    reporter.update_record("ops.backup", target["id"], {
        "state": "done", "finished_at": _now(), "size": manifest["size"], "location": target["path"],
        "manifest": manifest, "manifest_sha256": digest, "database_name": dbname,
        "odoo_version": manifest["odoo_version"], "database_size": manifest["database_size"],
        "filestore_files": manifest["filestore_files"],
    })
    reporter.log("info", "Backup done in %.1fs: %.1f MB (database %.1f MB, %d filestore files, %d modules)" % (
        manifest["seconds"], manifest["size"] / 1e6, manifest["database_size"] / 1e6, manifest["filestore_files"],
        len(manifest["modules"])))
    return manifest


def with_pre_deploy_backup(inner):
    """A production deploy executor that backs production up first."""

    def execute(spec, reporter, engine=None):
        if spec.get("pre_backup") and (spec.get("current") or {}).get("database_name"):
            take_backup(spec, reporter, spec["pre_backup"], spec["current"]["database_name"], engine)
            reporter.check_canceled()
        return inner(spec, reporter, engine)

    return execute


def _upload_offsite(spec, reporter, target):
    if not spec.get("offsite") or not target.get("offsite_prefix"):
        return
    reporter.log("info", "Copying the backup off-site to %s" % storage.url(spec["offsite"], target["offsite_prefix"]))
    try:
        location = storage.upload_dir(spec["offsite"], target["path"], target["offsite_prefix"])
    except storage.StorageError as exc:
        raise RunFailed("The backup is done locally, but its off-site copy failed: %s" % exc) from exc
    reporter.update_record("ops.backup", target["id"], {"offsite_location": location})


def execute_backup(spec, reporter, engine=None):
    dbname = (spec.get("current") or {}).get("database_name")
    if not dbname:
        reporter.update_record("ops.backup", spec["backup"]["id"], {"state": "failed", "finished_at": _now(),
                                                                    "error_message": "no database"})
        raise RunFailed("The environment has no database to back up; build it first.")
    manifest = take_backup(spec, reporter, spec["backup"], dbname, engine)
    _upload_offsite(spec, reporter, spec["backup"])
    reporter.artifact("backup", spec["backup"]["path"], content_type="application/x-ipai-ops-backup",
                      size=manifest["size"])
    return {"exit_code": 0, "result": "ok", "message": "Backed up %s (%.1f MB)" % (dbname, manifest["size"] / 1e6)}


def _fetch_offsite(spec, reporter):
    """When the local copy of the source backup is gone, download the
    off-site one into the work directory (the checksums are verified next)."""
    source = spec["source"]
    offsite = source.get("offsite")
    if not offsite or os.path.isdir(source.get("path") or ""):
        return None
    local = os.path.join(spec["work_root"], "offsite-%d" % spec["run_id"])
    shutil.rmtree(local, ignore_errors=True)
    reporter.log("info", "The local copy is gone; fetching %s" % storage.url(offsite, offsite["prefix"]))
    try:
        storage.download_dir(offsite, offsite["prefix"], local)
    except storage.StorageError as exc:
        shutil.rmtree(local, ignore_errors=True)
        raise RunFailed(str(exc)) from exc
    source["path"] = local
    return local


def _restore_into(spec, reporter, dbname):
    """Create ``dbname`` and load the spec's source into it (and its
    filestore). Returns the source manifest (None for a zip)."""
    fetched = _fetch_offsite(spec, reporter)
    try:
        return _load(spec, reporter, dbname)
    finally:
        if fetched:
            shutil.rmtree(fetched, ignore_errors=True)


def _load(spec, reporter, dbname):
    source = spec["source"]
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    guard.drop_database(spec, dbname)
    postgres.create_database(spec["db"], dbname, spec["db_role"])
    store = _db_filestore(spec, dbname)
    shutil.rmtree(store, ignore_errors=True)
    started = time.monotonic()
    try:
        if source["kind"] == "pitr":
            _restore_pitr(spec, reporter, dbname)
            manifest = None
        elif source["kind"] == "zip":
            reporter.log("info", "Importing %s into %s" % (os.path.basename(source["path"]), dbname))
            backup_store.import_zip(_role_conn(spec), dbname, source["path"], store)
            manifest = None
        else:
            reporter.log("info", "Checking the checksums of backup %s" % source["path"])
            problems = backup_store.verify(source["path"])
            if problems:
                raise RunFailed("The backup is damaged: %s" % "; ".join(problems[:5]))
            reporter.log("info", "Restoring into %s" % dbname)
            backup_store.restore(_role_conn(spec), dbname, source["path"], store, verify_first=False)
            manifest = backup_store.read_manifest(source["path"])
            problems = backup_store.check_restored(_role_conn(spec), dbname, manifest)
            if problems:
                raise RunFailed("The restored database does not match the backup: %s" % "; ".join(problems))
            reporter.log("info", "Restored and checked against the manifest (%d modules, row counts of %s)" % (
                len(manifest.get("modules") or {}), ", ".join(sorted(manifest.get("row_counts") or {}))))
        for folder, _dirs, files in os.walk(store):
            os.chown(folder, paths.ODOO_UID, paths.ODOO_UID)
            for name in files:
                os.chown(os.path.join(folder, name), paths.ODOO_UID, paths.ODOO_UID)
    except (backup_store.BackupError, postgres.PostgresError, OSError, pitr.PitrError, pgbackrest.PgBackRestError,
            pg_cluster.ClusterError) as exc:
        guard.drop_database(spec, dbname)
        shutil.rmtree(store, ignore_errors=True)
        raise RunFailed("Restore failed: %s" % exc) from exc
    except BaseException:
        guard.drop_database(spec, dbname)
        shutil.rmtree(store, ignore_errors=True)
        raise
    reporter.log("info", "Loaded in %.1fs" % (time.monotonic() - started))
    return manifest


def _restore_pitr(spec, reporter, dbname):
    """Production's database as it was at the source's second, through a side
    copy of production's cluster; production's filestore linked alongside."""
    source, conf = spec["source"], spec["source"]["pitr"]
    moment = pitr.parse_target(source["at"])
    reporter.log("info", "Restoring %s as it was at %s (a side copy of production's cluster, only that database)"
                 % (source["database"], pitr.fmt(moment)))
    # ops.pitr.restore sealed the archive when it queued this run: a commit after the
    # target is archived already, so recovery has a point to stop at.
    timings = pitr.restore_database(pgbackrest.stanza_for(conf), source["database"], moment,
                                    conf["conn"]["user"], conf["conn"]["password"], _role_conn(spec), dbname,
                                    os.path.join(conf["root"], "side-%d" % spec["run_id"]))
    # (where the environment keeps its files: a node's own disk takes it there, from production's if it is one)
    link = node_files.place_filestore(spec, None, source["filestore"], dbname, reporter, source.get("node"))
    reporter.log("info", "Point-in-time copy made in %.1fs (restore of %s %.1fs, recovery %.1fs, copy %.1fs)%s" % (
        timings["total"], timings["scope"], timings["restore"], timings["recovery"], timings["copy"],
        "; filestore: %d files of production's, linked" % link["files"] if link["files"] is not None else ""))


def execute_restore(spec, reporter, engine=None):
    """Restore a backup (or import a zip) into the run's environment: into a
    new database, switched to only once it answers; the previous database is
    kept until then, so a failed restore leaves the environment as it was."""
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    image = current.get("image_digest")
    if not image or not engine.image_id(image):
        raise RunFailed("The environment has no image to run the restored database; build it first.")
    if spec.get("pre_backup") and current.get("database_name"):
        take_backup(spec, reporter, spec["pre_backup"], current["database_name"], engine)
    reporter.check_canceled()
    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                    spec["project_slug"], spec["branch"]))
        _restore_into(spec, reporter, dbname)
        node_files.push_filestore(spec, engine, dbname)  # onto its node's own disk, when it has one
        reporter.check_canceled()
        if spec.get("neutralize"):
            # Production data into development or staging: made safe like a staging copy.
            odoo_steps.neutralize_copy(spec, engine, image, dbname, reporter)
        else:
            odoo_steps.secure_admin(spec, dbname, reporter, only_if_default=True)
        # Started next to the current container; the proxy switches once it answers.
        _container, url = switch.go_live(image, dbname,
                                         {"data_source": spec["source"].get("label") or False})
    what = "Imported" if spec["source"]["kind"] == "zip" else "Restored"
    return {"exit_code": 0, "result": "ok",
            "message": "%s into %s%s: %s" % (what, dbname, " (neutralized)" if spec.get("neutralize") else "", url)}


_LOGIN_KEY = "/run/ipai-ops/drill-login.key"


def _odoo_login(spec, engine, dbname, reporter):
    """Production's own image opens the drilled copy (its registry: every
    installed module) and logs the administrator in with Odoo's own login,
    under a one-use password given to the copy. Its configuration file is
    one of its own: the environment's names production's server. Returns
    the problems ([] when it logged in)."""
    image = (spec.get("current") or {}).get("image_digest")
    if not image or not engine.image_id(image):
        return ["production's image is not on this host: the copy was not opened in Odoo"]
    login = pitr_drill.admin_login(_role_conn(spec), dbname)
    if not login:
        return ["the copy has no administrator (base.user_admin)"]
    network.ensure(spec, engine, reporter)
    options = odoo_config.environment_options(network.db_endpoint(spec), spec["db_role"], spec["db_role_password"])
    with credentials.KeyFile(spec, "drill-login.key") as key:
        conf = odoo_config.write(key.directory, "drill-odoo.conf", options, paths.ODOO_UID, paths.ODOO_UID)
        try:
            credentials.secure_admin(spec, dbname, password=key.value)
            mounts = {conf: {"bind": odoo_config.CONTAINER_PATH, "mode": "ro"},
                      key.path: {"bind": _LOGIN_KEY, "mode": "ro"},
                      odoo_steps.ENV_ADDONS: {"bind": odoo_config.ENV_ADDONS_PATH, "mode": "ro"}}
            exit_code, tail = odoo_steps.run_odoo(
                spec, engine, image, [_LOGIN_KEY, dbname, login], "drill-login", reporter, volumes=mounts,
                entrypoint=["python3", "-c", pitr_drill.ODOO_LOGIN])
        finally:
            os.unlink(conf)
    said = [line[len(pitr_drill.LOGIN_PREFIX):] for line in tail if line.startswith(pitr_drill.LOGIN_PREFIX)]
    if exit_code == 0 and said:
        reporter.log("info", "Opened in production's image: %s" % said[-1])
        return []
    return [said[-1] if said else "Odoo did not open the copy (exit code %d): %s" % (
        exit_code, " | ".join(tail[-3:]) or "no output")]


def _drill_pitr(spec, reporter, engine):
    """Restore production to its mark's moment into a scratch database, check
    it against the mark (services/pitr_drill.py) and log its administrator
    in with production's image, record the verdict on the mark."""
    mark = spec["source"]["mark"]
    scratch = naming.drill_db_name(spec["namespace"], spec["run_id"])
    problems = []
    try:
        _restore_into(spec, reporter, scratch)
        problems = pitr_drill.login_check(_role_conn(spec), scratch) + pitr_drill.check(
            _role_conn(spec), scratch, mark["counts"])
        if not problems:
            problems = _odoo_login(spec, engine or runtime.for_spec(spec), scratch, reporter)
    except runtime.RuntimeFailure as exc:
        problems = ["the copy could not be opened in production's image: %s" % exc]
    except RunFailed as exc:
        problems = [str(exc)]
    except psycopg2.Error as exc:
        problems = ["the copy cannot be read: %s" % str(exc).strip()]
    finally:
        guard.drop_database(spec, scratch)
        shutil.rmtree(_db_filestore(spec, scratch), ignore_errors=True)
    message = "; ".join(problems) or "Restored to %s: the row counts of %s match that moment and Odoo logs its " \
        "administrator in." % (mark["target"], ", ".join(sorted(mark["counts"])))
    reporter.update_record("ops.pitr.mark", mark["id"], {"verify_state": "failed" if problems else "ok",
                                                         "verified_at": _now(), "verify_message": message[:500]})
    if problems:
        raise RunFailed("Point-in-time drill failed: %s" % message)
    return {"exit_code": 0, "result": "ok", "message": "Point-in-time drill passed: %s" % message}


def execute_drill(spec, reporter, engine=None):
    """Restore the backup into a scratch database, check it against its
    manifest, record the verdict. A verified copy is kept as a template
    (staging from the latest verified backup). A point-in-time drill
    (a mark as its source) checks against the mark instead."""
    if spec["source"].get("mark"):
        return _drill_pitr(spec, reporter, engine)
    backup_id = spec["source"]["id"]
    scratch = naming.drill_db_name(spec["namespace"], spec["run_id"])
    verdict, problems = "ok", []
    try:
        _restore_into(spec, reporter, scratch)
    except RunFailed as exc:
        verdict, problems = "failed", [str(exc)]
    values = {"verify_state": verdict, "verified_at": _now(), "verify_message": "; ".join(problems) or
              "Restored into a scratch database; modules, row counts and checksums match the manifest."}
    template = spec.get("drill_template")
    if verdict == "ok" and template:
        # Keep the verified copy (and its filestore) as the template staging
        # builds may start from; the previous one goes.
        guard.drop_database(spec, template)
        postgres.create_database(spec["db"], template, spec["db_role"], template=scratch)
        postgres.set_database_comment(spec["db"], template, json.dumps(
            {"backup_id": backup_id, "taken_at": spec["source"].get("taken_at"), "verified_at": values["verified_at"]}))
        store = _db_filestore(spec, template)
        shutil.rmtree(store, ignore_errors=True)
        os.rename(_db_filestore(spec, scratch), store)
        reporter.log("info", "Kept the verified copy as template %s" % template)
    if verdict == "ok":
        guard.drop_database(spec, scratch)
        shutil.rmtree(_db_filestore(spec, scratch), ignore_errors=True)
    reporter.update_record("ops.backup", backup_id, values)
    if verdict != "ok":
        raise RunFailed("Restore drill failed: %s" % values["verify_message"])
    return {"exit_code": 0, "result": "ok", "message": "Restore drill passed: %s" % values["verify_message"]}

"""A production made before production's cluster existed moves onto it with
its next deploy (``move_to`` in the spec: the cluster's connection values,
set by ops.run when the environment's database is on the shared server and
the cluster is configured; see models/ops_environment_database.py).

Production's cluster is the WAL-archived one (ipai_ops_backup's ops.pitr):
once there, the database can be restored to any second of the window. The
move is one switch (executors/cutover.py):

* the old container stops, so that no write reaches the old copy after it
  is taken. A code-only deploy of a database up to HOLD_MAX_BYTES fails no
  request: the front door's requests wait in a relay (cutover.Switch.hold)
  for the seconds of the copy and the new container's start, then go on to
  it. With modules to update, or a bigger database, the maintenance page
  is up meanwhile (cutover.Switch.stop_old), as for any module update;
* the database is copied to the cluster under the same name (pg_dump and
  pg_restore, written by the environment's role, which owns the copy); the
  filestore stays where it is (it is named after the database);
* with modules to update, the copy is copied again (CREATE DATABASE ...
  TEMPLATE, on the cluster) and updated, as a deploy does; the moved
  database is then the previous one a rollback goes back to;
* the new container serves from the cluster, the environment records
  ``db_cluster = production``, and only then the database on the shared
  server is dropped (and the previous one there, which no rollback can
  reach any more).

On any failure before the switch is recorded, the copies on the cluster go
(the filestore stays: it is the old database's), the old container's
configuration names the shared server again and it serves as before.
"""

import shutil
import time

from ..services import filestore, naming, postgres
from . import cutover, guard, node_files, odoo_steps, paths
from .base import RunFailed

# Held requests wait for the copy (about 25 MB/s on 2 cores: docs/benchmarks.md) and the new container's
# start; nginx waits for an answer up to its proxy_read_timeout, browsers a minute or more.
HOLD_MAX_BYTES = 300 * 1024 * 1024


def move(spec, reporter, engine, sha, image_id, old_db, args):
    """Deploy ``image_id`` with production's database moved from the shared
    server onto production's cluster; ``args``: Odoo's module update
    arguments (empty for a code-only deploy)."""
    current = spec["current"]
    target = dict(spec, db=spec["move_to"])
    target.pop("network", None)  # made again for the new container: its rules name both servers
    try:
        postgres.ensure_role(target["db"], spec["db_role"], spec["db_role_password"])
    except postgres.PostgresError as exc:
        raise RunFailed("Production's cluster refused the environment's role: %s" % exc) from exc
    started = time.monotonic()
    with cutover.Switch(target, engine, reporter) as switch:
        # Undone: the old container reads its configuration file again when it starts.
        switch.before_restart.append(lambda: odoo_steps.volumes(spec, engine, reporter))
        why = ("Moving production's database %s onto production's cluster (archived: point-in-time recovery); "
               "production is stopped while it is copied" % old_db)
        size = postgres.database_size(spec["db"], old_db)
        if args or size > HOLD_MAX_BYTES:
            switch.stop_old(why)
        else:
            switch.hold("%s (%.0f MB): requests wait meanwhile" % (why, size / 1e6))
        switch.database(old_db, filestore=False)
        postgres.create_database(target["db"], old_db, spec["db_role"])
        timing = _copy(spec, target, old_db)
        reporter.log("info", "Copied %s onto production's cluster in %.1fs (dump %.1fs, restore %.1fs)" % (
            old_db, timing["total"], timing["dump"], timing["restore"]))
        dbname, previous = old_db, old_db
        if args:
            dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                        spec["project_slug"], spec["branch"]))
            odoo_steps.copy_database(target, dbname, old_db, spec["db_role"])
            node_files.link_filestore(spec, engine, old_db, dbname)
            odoo_steps.change_modules(target, engine, image_id, dbname, args, reporter, "update",
                                      "Updating the modules failed")
            odoo_steps.secure_admin(target, dbname, reporter, only_if_default=True)
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "previous_database_name": previous, "db_cluster": "production"}, retire_database=False)
    down = time.monotonic() - started
    # The shared server's copies: no container, no rollback reaches them any more.
    for name in {old_db, current.get("previous_database_name")} - {None, False}:
        try:
            guard.drop_database(spec, name)
        except RunFailed as exc:  # moved and serving: what is left is the garbage collector's
            reporter.log("warning", "The shared server's %s stays for now: %s" % (name, exc))
            continue
        if name not in (old_db, dbname):
            node_files.remove_filestore(spec, engine, name)
    pause = "requests held" if not (args or size > HOLD_MAX_BYTES) else "the maintenance page up"
    reporter.log("info", "Production served from its cluster: %.1fs with %s up to the switch" % (down, pause))
    return {"exit_code": 0, "result": "ok",
            "message": "Deployed %s on %s, moved onto production's cluster (point-in-time recovery from now on; "
                       "%.0fs with %s): %s" % (sha[:12], dbname, down, pause, url)}


def _copy(spec, target, dbname):
    """``dbname`` from the shared server into its empty namesake on the
    cluster: read by the control plane's user, written by the environment's
    role (which then owns every object)."""
    workdir = paths.work_dir(spec, "move")
    try:
        return filestore.copy_database_live(
            dict(target["db"], user=spec["db_role"], password=spec["db_role_password"]), dbname, dbname, workdir,
            jobs=spec.get("copy_jobs", 2), source_conn=spec["db"])
    except RuntimeError as exc:
        raise RunFailed("Copying the database onto production's cluster failed: %s" % exc) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

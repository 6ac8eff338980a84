"""The upgrade of production to the next Odoo version (run kind upgrade on
production), after a successful preview of the same code. Like a deploy
that updates modules (executors/deploy.py): the backup module backs
production up first; each step's image is built (and brought to the node
of production's unit on a swarm host) while production still serves;
the maintenance page goes up and production stops
(the downtime); its database is copied with CREATE DATABASE ... TEMPLATE and
a hard-linked filestore; the copy is migrated with OpenUpgrade in the
target's image, exactly as the preview did (executors/upgrade_preview.py,
one major version at a time, every module checked afterwards); the new
container serves it once it answers. On any failure the switch removes the
new container and database and starts the previous image on the untouched
pre-upgrade database. The database from before stays as the environment's
previous database: a rollback can still go back to it.

Spec additions (ops.run._ops_upgrade_spec): upgrade_steps (with the commits
the preview ran), openupgrade_dir, predicted_downtime_seconds.
"""

import time

from ..services import naming, postgres, runtime
from . import cutover, deploy, node_files, odoo_steps, upgrade_preview
from .base import RunFailed


def execute(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    old_db = current.get("database_name")
    if not old_db:
        raise RunFailed("Production has no database to upgrade.")
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    name = naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"], spec["project_slug"],
                              spec["branch"])
    report = {"from_version": spec["upgrade_steps"][0]["from"], "to_version": spec["upgrade_steps"][-1]["to"],
              "steps": [], "previous_database": old_db,
              "predicted_downtime_seconds": spec.get("predicted_downtime_seconds")}
    with upgrade_preview.kept_on_failure(reporter, report), cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(name)
        # each step's image, built (and brought to the unit's node) while production still serves
        built = [upgrade_preview.build_step(spec, engine, reporter, step) for step in spec["upgrade_steps"]]
        switch.stop_old("Stopping production to upgrade it to Odoo %s" % report["to_version"])
        down_since = time.monotonic()
        odoo_steps.copy_database(spec, dbname, old_db, current.get("db_owner") or spec["db_role"])
        node_files.link_filestore(spec, engine, old_db, dbname)
        report["rows_before"] = postgres.row_counts(spec["db"], dbname)
        image_id = None
        for step, ready in zip(spec["upgrade_steps"], built, strict=True):
            image_id = upgrade_preview.migrate(spec, engine, reporter, step, dbname, report, built=ready)
        report["rows_after"] = postgres.row_counts(spec["db"], dbname)
        report["rows_changed"] = upgrade_preview.rows_changed(report["rows_before"], report["rows_after"])
        if report["rows_changed"]:
            raise RunFailed("The migration changed the number of records people made: %s; production stays as it "
                            "was" % ", ".join("%s %s -> %s" % (k, a, b)
                                              for k, (a, b) in report["rows_changed"].items()))
        odoo_steps.secure_admin(spec, dbname, reporter, only_if_default=True)
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "previous_database_name": old_db}, retire_database=False)
        report["downtime_seconds"] = round(time.monotonic() - down_since, 1)
    deploy._drop_older(spec, engine, current, dbname)
    report["migration_seconds"] = round(sum(s["seconds"] for s in report["steps"]), 1)
    report["url"] = url
    reporter.upgrade_result(report, [])
    predicted = report["predicted_downtime_seconds"]
    reporter.log("info", "Production runs Odoo %s: down %.0fs (the preview predicted %s)" % (
        report["to_version"], report["downtime_seconds"], "%ds" % predicted if predicted else "nothing"))
    return {"exit_code": 0, "result": "ok", "message": "Upgraded production to Odoo %s on %s in %.0fs of downtime: %s"
            % (report["to_version"], dbname, report["downtime_seconds"], url)}

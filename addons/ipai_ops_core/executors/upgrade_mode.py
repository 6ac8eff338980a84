"""Upgrade mode (a build of an upgrade preview environment, branch
upgrade/<version>): the migrated copy of production stays, and each new
commit re-applies only the code's modules on it (``-u`` of every module of
the code that is installed) in the target's image, without migrating again.
A team fixes its code against real, migrated data for as long as it needs;
a new preview (Upgrade tab) brings a fresh copy of production.

As for a staging build that keeps its data: the running copy is copied
(CREATE DATABASE ... TEMPLATE, hard-linked filestore), the copy is updated,
and the new container serves it once it answers; on any failure the
previous copy serves again, untouched.

Spec additions (ops.run._ops_upgrade_mode_spec): staging_mode "upgrade",
the target's tool_image, tool and odoo_version.
"""

import time

from ..services import naming, postgres, runtime
from . import cutover, image, odoo_steps, staging
from .base import RunFailed


def execute(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    if not current.get("database_name"):
        raise RunFailed("Upgrade mode updates the migrated copy of production, and this environment has none: "
                        "make one with a preview (Upgrade tab, ops upgrade preview).")
    started = time.monotonic()
    sha, _tag, image_id, modules, _versions = image.build_image(spec, reporter, engine)
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"],
                                                    spec["project_slug"], spec["branch"]))
        label = staging._copy_data(spec, switch, None, dbname, True)
        states = postgres.module_states(spec["db"], dbname)
        own = sorted(m for m in modules if (states.get(m) or (None, None))[0] == "installed")
        left = sorted(set(modules) - set(own))
        reporter.log("info", "Upgrade mode: updating the code's installed modules on the migrated copy (Odoo %s): "
                             "%s%s" % (spec.get("odoo_version"), ", ".join(own) or "none",
                                       "; not installed there, so not installed now (the production upgrade would "
                                       "not install them either): %s" % ", ".join(left) if left else ""))
        update_started = time.monotonic()
        if own:
            odoo_steps.change_modules(spec, engine, image_id, dbname, ["-u", ",".join(own)], reporter, "update",
                                      "Updating the modules on the migrated copy failed")
        update_seconds = time.monotonic() - update_started
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "data_source": label})
    return {"exit_code": 0, "result": "ok", "message": (
        "Upgrade mode: %s updated on the migrated copy in %.0fs (build and switch included: %.0fs), no migration "
        "run again: %s" % (", ".join(own) or "no module", update_seconds, time.monotonic() - started, url))}

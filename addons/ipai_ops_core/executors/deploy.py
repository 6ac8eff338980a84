"""Production deploys and rollbacks.

A deploy puts an image on production: the exact image a staging build ran
when it is promoted (``promote_image`` in the spec), else an image built
from the production branch. The first deploy installs the project's
modules without demo data. Later deploys (the backup module, when
installed, takes a pre-deploy backup first) take one of two paths:

* nothing to update (no module's manifest version changed, none new): the
  new container starts on the same database next to the running one, the
  proxy switches to it once it answers and the old one goes after the
  requests it held: no request fails, nothing waits;
* modules to update: the maintenance page goes up and production stops
  (the only downtime), its database is copied with CREATE DATABASE ...
  TEMPLATE (a file-level copy) with a hard-linked filestore, the modules
  are updated in the copy with the new image, and the new container serves
  the copy once it answers. On any failure the switch
  (executors/cutover.py) removes the new container and database, starts
  the old container on the untouched pre-deploy database and takes the
  maintenance page down.

The database from before the deploy is kept as the environment's previous
database (with a code-only deploy, the same one): a rollback starts the
previous image on it, next to the running one, and switches.
"""


from ..services import naming, postgres, runtime
from . import cutover, guard, image, move_database, node_files, odoo_steps
from .base import RunFailed


def execute(spec, reporter, engine=None):
    """Deploy an image on production (its first deploy installs)."""
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    sha, image_id, modules, versions = image.image_for(spec, reporter, engine)
    reporter.check_canceled()
    postgres.ensure_role(spec["db"], spec["db_role"], spec["db_role_password"])
    old_db = current.get("database_name")
    name = naming.db_name_for(spec["namespace"], spec["environment_id"], spec["run_id"], spec["project_slug"],
                              spec["branch"])
    if not old_db:
        return _first_deploy(spec, reporter, engine, image_id, name, modules)

    args = odoo_steps.module_changes(spec, old_db, modules, versions, reporter)
    if spec.get("move_to"):
        return move_database.move(spec, reporter, engine, sha, image_id, old_db, args)
    if not args:
        return _code_only(spec, reporter, engine, sha, image_id, old_db)
    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(name)
        switch.stop_old("Stopping production to copy its database and update %s" % " ".join(args))
        odoo_steps.copy_database(spec, dbname, old_db, current.get("db_owner") or spec["db_role"])
        node_files.link_filestore(spec, engine, old_db, dbname)
        reporter.log("info", "Copied %s to %s (with a hard-linked filestore)" % (old_db, dbname))
        odoo_steps.change_modules(spec, engine, image_id, dbname, args, reporter, "update",
                                  "Updating the modules failed")
        odoo_steps.secure_admin(spec, dbname, reporter, only_if_default=True)
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "previous_database_name": old_db}, retire_database=False)
    _drop_older(spec, engine, current, dbname)
    return {"exit_code": 0, "result": "ok", "message": "Deployed %s on %s: %s" % (sha[:12], dbname, url)}


def _code_only(spec, reporter, engine, sha, image_id, dbname):
    """No module to update: the new image serves the same database, started
    next to the running container; the proxy switches without a pause."""
    current = spec["current"]
    reporter.log("info", "No module to update: starting the new image on %s next to the running one" % dbname)
    with cutover.Switch(spec, engine, reporter) as switch:
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": current.get("image_digest") or False,
            "previous_database_name": dbname}, retire_database=False)
    _drop_older(spec, engine, current, dbname)
    return {"exit_code": 0, "result": "ok",
            "message": "Deployed %s on %s without downtime (no module to update): %s" % (sha[:12], dbname, url)}


def _drop_older(spec, engine, current, dbname):
    """The database before the previous one is no longer a rollback's."""
    older = current.get("previous_database_name")
    if older and older not in (current.get("database_name"), dbname):
        guard.drop_database(spec, older)
        node_files.remove_filestore(spec, engine, older)


def _first_deploy(spec, reporter, engine, image_id, name, modules):
    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(name)
        postgres.create_database(spec["db"], dbname, spec["db_role"])
        reporter.log("info", "First deploy: installing %s without demo data" % (", ".join(modules) or "base"))
        odoo_steps.change_modules(spec, engine, image_id, dbname, ["-i", ",".join(modules or ["base"])], reporter,
                                  "install", "Installing the modules failed")
        odoo_steps.secure_admin(spec, dbname, reporter)
        _container, url = switch.go_live(image_id, dbname, {
            "image_digest": image_id, "previous_image_digest": False})
    return {"exit_code": 0, "result": "ok", "message": "First deploy on %s: %s" % (dbname, url)}


def rollback(spec, reporter, engine=None):
    """Swap production back to the previous image and the database as it
    was before the last deploy; the current ones become the previous ones,
    so a rollback can itself be undone."""
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    previous_image, dbname = current.get("previous_image_digest"), current.get("previous_database_name")
    if not previous_image or not dbname:
        raise RunFailed("Nothing to roll back to: this environment has no previous deploy.")
    if not engine.image_id(previous_image):
        raise RunFailed("The previous image %s is no longer on this host." % previous_image)
    owner = postgres.database_owner(spec["db"], dbname)
    if not owner:
        raise RunFailed("The previous database %s is gone." % dbname)
    if owner not in guard.env_owners(spec):
        raise RunFailed("Refusing to roll back to database %s: it belongs to role %s, not to this environment."
                        % (dbname, owner))
    # A database from before per-environment roles becomes the environment's own.
    postgres.adopt_database(spec["db"], dbname, spec["db_role"])
    # Started next to the running container; the proxy switches once it answers.
    with cutover.Switch(spec, engine, reporter) as switch:
        switch.go_live(previous_image, dbname, {
            "image_digest": previous_image, "previous_image_digest": current.get("image_digest") or False,
            "previous_database_name": current.get("database_name") or False}, retire_database=False)
    return {"exit_code": 0, "result": "ok",
            "message": "Rolled back to %s on %s" % (previous_image[:19], dbname)}

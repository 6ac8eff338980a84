"""The backup addon's kinds of run (backup, restore, restore drill), its
pre-deploy backup of production, and the backups' bookkeeping when runs
change state."""

import json
import os

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.executors.base import RunFailed
from odoo.addons.ipai_ops_core.executors.registry import RunKind
from odoo.addons.ipai_ops_core.services import naming, postgres

from ..executors import backup as backup_executor

# Copies of production that leave the platform or replace an environment: admins on every stage.
DATA_ROLES = {"development": "admin", "staging": "admin", "production": "admin"}
RESTORE_CONFIG = ("backup_id", "pre_backup_id", "import_path", "import_name", "pitr_at", "pitr_production_id")


class OpsRun(models.Model):
    _inherit = "ops.run"

    kind = fields.Selection(selection_add=[("backup", "Backup"), ("restore", "Restore"), ("drill", "Restore drill")],
                            ondelete={"backup": "cascade", "restore": "cascade", "drill": "cascade"})

    @api.model
    def _ops_run_kinds(self):
        kinds = super()._ops_run_kinds()
        kinds.update({
            # backups and drills copy production, they never change it: no approval
            "backup": RunKind({None: backup_executor.execute_backup}, extend_spec=("_ops_backup_spec",),
                              reserved_config=("backup_id",), roles=DATA_ROLES, approval="never"),
            "restore": RunKind({None: backup_executor.execute_restore}, extend_spec=("_ops_restore_spec",),
                               reserved_config=RESTORE_CONFIG, starts_container=True, roles=DATA_ROLES),
            "drill": RunKind({None: backup_executor.execute_drill}, extend_spec=("_ops_drill_spec",),
                             reserved_config=("backup_id", "pitr_mark_id"), roles=DATA_ROLES, approval="never",
                             on_state=("_ops_drill_state_changed",)),
        })
        # A production deploy (or upgrade) backs production up first.
        for key in ("build", "deploy", "upgrade"):
            if key in kinds:
                kinds[key] = kinds[key].extended("production", wrap=backup_executor.with_pre_deploy_backup,
                                                 extend_spec=("_ops_pre_deploy_backup_spec",))
        return kinds

    def _ops_backup(self, key):
        # sudo: the backup a run works on; only the platform sets these config keys (_ops_queue)
        backup = self.env["ops.backup"].sudo().browse((self.config or {}).get(key) or 0).exists()
        return backup

    def _ops_pre_deploy_backup_spec(self, spec):
        """Production's backup taken before a deploy or upgrade replaces it
        (kept as pre_deploy)."""
        if spec["stage"] != "production" or not spec["current"]["database_name"]:
            return spec
        # sudo: building a worker's spec; no user input beyond the run itself
        env = self.sudo().environment_id
        # sudo: the pre-deploy backup of this very run
        pre = self.env["ops.backup"].sudo().search([("run_id", "=", self.id), ("kind", "=", "pre_deploy")], limit=1)
        if not pre:
            # sudo: the platform's own pre-deploy backup record
            pre = self.env["ops.backup"].sudo().create({"environment_id": env.id, "kind": "pre_deploy",
                                                        "run_id": self.id, "requested_by_id": self.requested_by_id.id})
        spec["pre_backup"] = {"id": pre.id, "path": pre._storage_path()}
        return spec

    def _ops_data_spec(self, spec):
        """What every backup kind adds: the commit the environment runs (for the backup's manifest)."""
        # sudo: the environment's last build
        build = self.sudo().search([("environment_id", "=", self.sudo().environment_id.id),
                                    ("kind", "in", ("build", "deploy")), ("state", "=", "succeeded")], limit=1)
        spec["env_commit_sha"] = build.commit_sha or None
        return spec

    def _ops_backup_spec(self, spec):
        spec = self._ops_data_spec(spec)
        backup = self._ops_backup("backup_id")
        # sudo: building a worker's spec; the backup must be of this run's own environment
        if not backup or backup.environment_id != self.sudo().environment_id:
            raise RunFailed("The backup of this run is gone.")
        spec["backup"] = {"id": backup.id, "path": backup._storage_path()}
        spec["offsite"] = self.env["ops.backup"]._offsite_settings()
        if spec["offsite"]:
            spec["backup"]["offsite_prefix"] = backup._offsite_prefix()
        return spec

    def _ops_source_spec(self, spec):
        """Restore and drill: the backup (or uploaded dump) they load."""
        spec = self._ops_data_spec(spec)
        # sudo: building a worker's spec; no user input beyond the run itself
        env = self.sudo().environment_id
        config = self.config or {}
        if config.get("import_path"):
            path = os.path.realpath(config["import_path"])
            if not path.startswith(self.env["ops.backup"]._import_root() + os.sep) or not os.path.isfile(path):
                raise RunFailed("The uploaded file of this import is gone.")
            spec["source"] = {"kind": "zip", "path": path,
                              "label": "Imported %s" % os.path.basename(config.get("import_name") or path)}
            return spec
        if config.get("pitr_mark_id"):
            # sudo: the mark a point-in-time drill restores to; it must be of this very production and database
            mark = self.env["ops.pitr.mark"].sudo().browse(config["pitr_mark_id"]).exists()
            if not mark or mark.environment_id != env or mark.database_name != env.database_name:
                raise RunFailed("The mark to drill is gone, or production serves another database since.")
            spec["source"] = self.env["ops.pitr"]._ops_source(env, mark.target, spec["filestore_root"])
            spec["source"]["mark"] = {"id": mark.id, "counts": mark.counts or {}, "target": mark.target}
            return spec
        if config.get("pitr_at"):
            # sudo: the production this restore reads; it must be of the run's own project
            production = self.env["ops.environment"].sudo().browse(config.get("pitr_production_id") or 0).exists()
            if not production or production.project_id != env.project_id or not production.database_name:
                raise RunFailed("The production to restore from is gone.")
            spec["source"] = self.env["ops.pitr"]._ops_source(production, config["pitr_at"], spec["filestore_root"])
            return spec
        source = self._ops_backup("backup_id")
        if not source or source.state != "done" or source.project_id != env.project_id:
            raise RunFailed("The backup to restore is gone or not finished.")
        taken = source.started_at.strftime("%Y-%m-%d %H:%M UTC") if source.started_at else "?"
        spec["source"] = {"kind": "backup", "path": source.location, "id": source.id, "taken_at": taken,
                          "label": "%s backup of %s, taken %s" % (source.stage, source.environment_id.name, taken)}
        settings = self.env["ops.backup"]._offsite_settings()
        if source.offsite_location and settings and not os.path.isdir(source.location or ""):
            # The local copy is gone: the executor fetches the off-site one.
            spec["source"]["offsite"] = dict(settings, prefix=source._offsite_prefix())
        return spec

    def _ops_drill_spec(self, spec):
        spec = self._ops_source_spec(spec)
        # Drills restore on the shared server: on production's cluster their
        # writes would fill the WAL archive with copies of production.
        spec["db"] = self._ops_settings()["db"]
        if spec["source"].get("mark"):
            return spec  # nothing of a point-in-time drill is kept
        spec["drill_template"] = naming.verified_copy_name(spec["namespace"], spec["environment_id"])
        return spec

    def _ops_restore_spec(self, spec):
        spec = self._ops_source_spec(spec)
        # sudo: building a worker's spec; no user input beyond the run itself
        env = self.sudo().environment_id
        pre = self._ops_backup("pre_backup_id")
        spec["pre_backup"] = {"id": pre.id, "path": pre._storage_path()} if pre and env.database_name else None
        if pre and not env.database_name:
            pre.write({"state": "failed", "error_message": _("Nothing to back up: the environment had no database.")})
        spec["neutralize"] = env.stage != "production"
        return spec

    def _ops_staging_source(self, source, production, prod_store, spec):
        """Staging from the latest verified backup: the copy the last restore drill verified."""
        if source != "backup":
            return super()._ops_staging_source(source, production, prod_store, spec)
        template = naming.verified_copy_name(spec["namespace"], production.id)
        # The drill made it on the shared server, staging's own: copied as a template there.
        server = self._ops_settings()["db"]
        meta = postgres.database_comment(server, template)  # None when there is no such database
        if not meta:
            raise RunFailed("No verified backup of %s yet: a restore drill has to pass first (Backups)."
                            % production.name)
        meta = json.loads(meta)
        return {"kind": "template", "database": template, "filestore": os.path.join(prod_store, template),
                "server": server,
                # the drill restored it as production's role (see executors/backup.py)
                "owner": production._ops_db_credentials()[0],
                "label": "Production backup taken %s, verified by a restore drill at %s" % (
                    meta.get("taken_at"), meta.get("verified_at"))}

    def _ops_state_changed(self, new_state, before, message=None, payload=None):
        super()._ops_state_changed(new_state, before, message, payload)
        if new_state not in ("failed", "canceled", "queued"):
            return
        # Backups this run was taking (a backup run, or the pre-deploy /
        # pre-restore backup of a deploy or restore) never finish now.
        # sudo: state bookkeeping of the backups this run was taking
        unfinished = self.env["ops.backup"].sudo().search([("run_id", "in", self.ids),
                                                           ("state", "in", ("pending", "running"))])
        for run in self:
            backups = unfinished.filtered(lambda b, r=run: b.run_id == r)
            if new_state == "queued":
                # Requeued after a lost worker: start over from nothing.
                backups.filtered(lambda b: b.state == "running")._remove_files()
                backups.write({"state": "pending"})
            else:
                backups._mark_interrupted(run.error_message or _("The run %s.", new_state))

    def _ops_drill_state_changed(self, new_state):
        if new_state == "failed":
            self._ops_alert_drill_failure()

    def _ops_alert_drill_failure(self):
        """Tell the project's admins and owners: a backup did not restore."""
        self.ensure_one()
        # sudo: the project's admins are told about the failed drill; nothing is returned to the caller
        project = self.sudo().project_id
        admins = project.member_ids.filtered(lambda m: m.role in ("owner", "admin")).user_id
        backup = self._ops_backup("backup_id")
        summary = _("Restore drill failed for %s", self.environment_id.name)
        note = _("Run %(run)s: %(error)s", run=self.display_name, error=self.error_message or "")
        for user in admins:
            project.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id)
        project._message_log(body=_("%(summary)s (backup %(backup)s): %(note)s", summary=summary,
                                    backup=backup.display_name or "-", note=note))

import os

from odoo import _, api, models
from odoo.addons.ipai_ops_core.executors.base import RunFailed
from odoo.addons.ipai_ops_core.services import naming

from ..executors import backup as backup_executor

BACKUP_KINDS = ("backup", "restore", "drill")


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _ops_executors(self):
        executors = super()._ops_executors()
        executors.update({("backup", None): backup_executor.execute_backup,
                          ("restore", None): backup_executor.execute_restore,
                          ("drill", None): backup_executor.execute_drill})
        # A production deploy backs production up first.
        for key in (("build", "production"), ("deploy", "production"), ("upgrade", "production")):
            if key in executors:
                executors[key] = backup_executor.with_pre_deploy_backup(executors[key])
        return executors

    def _ops_backup(self, key):
        # sudo: the backup a run works on; only the platform sets these config keys (_ops_queue)
        backup = self.env["ops.backup"].sudo().browse((self.config or {}).get(key) or 0).exists()
        return backup

    def _executor_spec(self, host_name="local"):
        spec = super()._executor_spec(host_name)
        if self.kind in ("build", "deploy", "upgrade") and spec["stage"] == "production" \
                and spec["current"]["database_name"]:
            # A production deploy backs production up first (kept as pre_deploy).
            # sudo: building a worker's spec; no user input beyond the run itself
            env = self.sudo().environment_id
            # sudo: the pre-deploy backup of this very run
            pre = self.env["ops.backup"].sudo().search([("run_id", "=", self.id), ("kind", "=", "pre_deploy")],
                                                       limit=1)
            if not pre:
                # sudo: the platform's own pre-deploy backup record
                pre = self.env["ops.backup"].sudo().create({"environment_id": env.id, "kind": "pre_deploy",
                                                            "run_id": self.id,
                                                            "requested_by_id": self.requested_by_id.id})
            spec["pre_backup"] = {"id": pre.id, "path": pre._storage_path()}
        if self.kind not in BACKUP_KINDS:
            return spec
        # sudo: building a worker's spec; no user input beyond the run itself
        env = self.sudo().environment_id
        # sudo: the environment's last build, for the backup's manifest
        build = self.sudo().search([("environment_id", "=", env.id), ("kind", "in", ("build", "deploy")),
                                    ("state", "=", "succeeded")], limit=1)
        spec["env_commit_sha"] = build.commit_sha or None
        if self.kind == "backup":
            backup = self._ops_backup("backup_id")
            if not backup or backup.environment_id != env:
                raise RunFailed("The backup of this run is gone.")
            spec["backup"] = {"id": backup.id, "path": backup._storage_path()}
            spec["offsite"] = self.env["ops.backup"]._offsite_settings()
            if spec["offsite"]:
                spec["backup"]["offsite_prefix"] = backup._offsite_prefix()
            return spec
        config = self.config or {}
        if config.get("import_path"):
            path = os.path.realpath(config["import_path"])
            if not path.startswith(self.env["ops.backup"]._import_root() + os.sep) or not os.path.isfile(path):
                raise RunFailed("The uploaded file of this import is gone.")
            spec["source"] = {"kind": "zip", "path": path,
                              "label": "Imported %s" % os.path.basename(config.get("import_name") or path)}
        else:
            source = self._ops_backup("backup_id")
            if not source or source.state != "done" or source.project_id != env.project_id:
                raise RunFailed("The backup to restore is gone or not finished.")
            taken = source.started_at.strftime("%Y-%m-%d %H:%M UTC") if source.started_at else "?"
            spec["source"] = {"kind": "backup", "path": source.location, "id": source.id, "taken_at": taken,
                              "label": "%s backup of %s, taken %s" % (source.stage, source.environment_id.name,
                                                                       taken)}
            settings = self.env["ops.backup"]._offsite_settings()
            if source.offsite_location and settings and not os.path.isdir(source.location or ""):
                # The local copy is gone: the executor fetches the off-site one.
                spec["source"]["offsite"] = dict(settings, prefix=source._offsite_prefix())
        if self.kind == "drill":
            spec["drill_template"] = naming.verified_copy_name(spec["namespace"], env.id)
            return spec
        pre = self._ops_backup("pre_backup_id")
        spec["pre_backup"] = {"id": pre.id, "path": pre._storage_path()} if pre and env.database_name else None
        if pre and not env.database_name:
            pre.write({"state": "failed", "error_message": _("Nothing to back up: the environment had no database.")})
        spec["neutralize"] = env.stage != "production"
        return spec

    def _set_state(self, new_state, message=None, payload=None, **vals):
        res = super()._set_state(new_state, message, payload, **vals)
        if new_state in ("failed", "canceled", "queued"):
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
                if run.kind == "drill" and new_state == "failed":
                    run._ops_alert_drill_failure()
        return res

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

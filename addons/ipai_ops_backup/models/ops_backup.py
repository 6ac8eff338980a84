import logging
import os
import shutil
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.models import bulk
from odoo.addons.ipai_ops_core.models.rpc_args import positive_id, valid_records
from odoo.addons.ipai_ops_core.services import naming
from odoo.exceptions import UserError, ValidationError

from ..services import retention, storage

_logger = logging.getLogger(__name__)
KINDS = [("daily", "Daily"), ("manual", "Manual"), ("pre_deploy", "Pre-deploy"), ("pre_restore", "Pre-restore")]
# Written by runs only (the backup executor through the run's reporter).
RUNTIME_FIELDS = {
    "state", "started_at", "finished_at", "size", "location", "manifest", "manifest_sha256", "database_name",
    "odoo_version", "database_size", "filestore_files", "error_message", "verify_state", "verified_at",
    "verify_message", "run_id", "environment_id", "kind", "offsite_location",
}


class OpsBackup(models.Model):
    """A backup of an environment: database dump, filestore and manifest in
    a directory of the backup storage. Taken, restored and drilled by runs."""

    _name = "ops.backup"
    _description = "Ops backup"
    _inherit = ["mail.thread"]
    _order = "started_at desc, id desc"

    name = fields.Char(compute="_compute_name", store=True)
    environment_id = fields.Many2one("ops.environment", required=True, ondelete="restrict", index=True,
                                     readonly=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    kind = fields.Selection(KINDS, required=True, default="manual", readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("running", "Running"), ("done", "Done"), ("failed", "Failed"),
         ("deleted", "Deleted")],
        required=True, default="pending", readonly=True, index=True, tracking=True,
    )
    run_id = fields.Many2one("ops.run", ondelete="set null", readonly=True, index="btree_not_null")
    requested_by_id = fields.Many2one("res.users", "Requested by", readonly=True, default=lambda self: self.env.user)
    started_at = fields.Datetime("Started at", readonly=True)
    finished_at = fields.Datetime("Finished at", readonly=True)
    size = fields.Float("Size (bytes)", readonly=True, digits=(20, 0))
    size_mb = fields.Float("Size (MB)", compute="_compute_size_mb", digits=(16, 1))
    location = fields.Char("Storage location", readonly=True)
    offsite_location = fields.Char("Off-site copy", readonly=True,
                                   help="The copy in S3-compatible object storage (system parameters "
                                        "ipai_ops.backup_s3_*), used when the local copy is gone.")
    database_name = fields.Char("Database backed up", readonly=True)
    odoo_version = fields.Char("Odoo version", readonly=True)
    database_size = fields.Float("Database size (bytes)", readonly=True, digits=(20, 0))
    filestore_files = fields.Integer("Filestore files", readonly=True)
    manifest = fields.Json(readonly=True)
    manifest_sha256 = fields.Char("Manifest sha256", readonly=True)
    error_message = fields.Text("Error message", readonly=True)
    verify_state = fields.Selection([("ok", "Verified"), ("failed", "Failed")], "Restore drill", readonly=True,
                                    tracking=True)
    verified_at = fields.Datetime("Drilled at", readonly=True)
    verify_message = fields.Text("Drill result", readonly=True)
    keep_reason = fields.Char("Kept because", readonly=True)

    @api.depends("environment_id.name", "kind", "create_date")
    def _compute_name(self):
        for backup in self:
            when = fields.Datetime.to_string(backup.create_date or fields.Datetime.now())[:16]
            backup.name = "%s %s (%s)" % (backup.environment_id.name or "", when, backup.kind or "")

    def _compute_size_mb(self):
        for backup in self:
            backup.size_mb = (backup.size or 0) / 1e6

    def write(self, vals):
        if not self.env.su and RUNTIME_FIELDS.intersection(vals):
            raise UserError(_("Backups are changed by runs only."))
        return super().write(vals)

    # ------------------------------------------------------------------
    # API (UI buttons, XML-RPC and the ops CLI call these)
    # ------------------------------------------------------------------
    def _api_dict(self):
        return [{
            "id": b.id, "name": b.name, "project": b.project_id.slug, "environment_id": b.environment_id.id,
            "environment": b.environment_id.name, "stage": b.stage, "kind": b.kind, "state": b.state,
            "started_at": fields.Datetime.to_string(b.started_at) if b.started_at else False,
            "finished_at": fields.Datetime.to_string(b.finished_at) if b.finished_at else False,
            "size": int(b.size or 0), "odoo_version": b.odoo_version or False,
            "verify_state": b.verify_state or False, "run_id": b.run_id.id or False,
            "error_message": b.error_message or False,
        } for b in self]

    @api.model
    def list_backups(self, project, limit=50):
        """Backups of a project the caller may see, newest first."""
        project = self.env["ops.run"]._resolve_project(project)
        if not isinstance(limit, int) or not 0 < limit <= 1000:
            raise ValidationError(_("limit must be an integer between 1 and 1000."))
        return self.search([("project_id", "=", project.id), ("state", "!=", "deleted")], limit=limit)._api_dict()

    @api.model
    def _target_environment(self, values):
        project = self.env["ops.run"]._resolve_project(values.get("project_id") or values.get("project"))
        env = self.env["ops.run"]._resolve_environment(project, {
            "environment_id": values.get("environment_id"), "branch": values.get("branch")})
        if not env:
            env = project.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")[:1]
        if not env:
            raise UserError(_("Project %s has no production environment; name the environment.", project.slug))
        return project, env

    @api.model
    def create_backup(self, values):
        """Queue a backup: ``values`` = project (slug or id), optionally
        environment_id or branch (default: production), kind (manual).
        Returns the backup as a dict, with its run."""
        if not isinstance(values, dict) or set(values) - {"project", "project_id", "environment_id", "branch",
                                                         "kind"}:
            raise ValidationError(_("create_backup expects project, environment_id or branch, kind."))
        project, env = self._target_environment(values)
        kind = values.get("kind") or "manual"
        if kind not in dict(KINDS) or (kind != "manual" and not self.env.su):
            raise ValidationError(_("Only manual backups are taken on demand."))
        project._ops_check_action(env.stage, "backup")
        if kind == "manual" and not self.env.su:
            today = fields.Datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
            # sudo: counts today's manual backups of an environment the caller may back up (checked above)
            taken = self.sudo().search_count([("environment_id", "=", env.id), ("kind", "=", "manual"),
                                              ("create_date", ">=", today), ("state", "!=", "failed")])
            if taken >= project.backup_manual_daily_cap:
                raise UserError(_("%(env)s already has %(n)d manual backups today (the project's daily cap).",
                                  env=env.name, n=taken))
        if env.state in ("new", "destroyed"):
            raise UserError(_("Environment %s has no database to back up yet.", env.name))
        # sudo: the role check above is the gate; users have no create right on backups.
        backup = self.sudo().create({"environment_id": env.id, "kind": kind, "requested_by_id": self.env.uid})
        run = self.env["ops.run"]._ops_queue({"project_id": project.id, "environment_id": env.id, "kind": "backup",
                                             "config": {"backup_id": backup.id}, "priority": 20}, trusted=True)
        # sudo: links the platform's own records; users have no write right on backups
        backup.sudo().run_id = run["id"]
        return backup._api_dict()[0]

    def restore_backup(self, target=None):
        """Queue a restore of this backup: into its own environment (default)
        or ``target`` (an environment id of the same project, development or
        staging: neutralized like a staging build). A pre-restore backup of
        the target is taken first."""
        valid_records(self, "Backup").ensure_one()
        self.check_access("read")
        if self.state != "done":
            raise UserError(_("Only a finished backup can be restored (this one is %s).", self.state))
        env = self.environment_id
        if target:
            env = self.env["ops.environment"].browse(positive_id(self.env, target, "target")).exists()
            if not env or env.project_id != self.project_id:
                raise ValidationError(_("Environment %(env)s is not an environment of project %(project)s.", env=target,
                                        project=self.project_id.slug))
            env.check_access("read")
            if env != self.environment_id and env.stage == "production":
                raise UserError(_("A backup is restored into production only in its own environment."))
        return self._queue_restore(env, {"backup_id": self.id})

    @api.model
    def _queue_restore(self, env, config):
        project = env.project_id
        project._ops_check_action(env.stage, "restore")
        if env.state in ("new", "destroyed") or not env.image_digest:
            raise UserError(_("Environment %s has no build to restore into; build it first.", env.name))
        # sudo: the restore's role check above is the gate; users cannot create backups
        pre = self.sudo().create({"environment_id": env.id, "kind": "pre_restore", "requested_by_id": self.env.uid})
        run = self.env["ops.run"]._ops_queue({
            "project_id": project.id, "environment_id": env.id, "kind": "restore",
            "config": dict(config, pre_backup_id=pre.id), "priority": 20}, trusted=True)
        # sudo: links the platform's own records; users have no write right on backups
        pre.sudo().run_id = run["id"]
        return run

    def action_restore(self):
        run = self.restore_backup()
        return self.environment_id._open_run(self.env["ops.run"].browse(run["id"]))

    def action_download(self):
        if len(self) != 1:
            raise UserError(_("Download one backup at a time."))
        return {"type": "ir.actions.act_url", "url": "/ipai_ops/backup/%d/download" % self.id, "target": "new"}

    def action_drill(self):
        self.ensure_one()
        return self.environment_id._open_run(self._queue_drill())

    def action_bulk_drill(self):
        return bulk.each(self, _("Restore drill queued"), lambda backup: backup._queue_drill().display_name,
                         _("No restore drill queued"))

    def _queue_drill(self):
        self.ensure_one()
        self.project_id._ops_check_action(self.stage, "drill")
        if self.state != "done":
            raise UserError(_("Only a finished backup can be drilled."))
        run = self.env["ops.run"]._ops_queue({
            "project_id": self.project_id.id, "environment_id": self.environment_id.id, "kind": "drill",
            "config": {"backup_id": self.id}, "idempotency_key": "drill-%d-%s" % (
                self.id, fields.Date.to_string(fields.Date.today()))}, trusted=True)
        return self.env["ops.run"].browse(run["id"])

    @api.model
    def _ops_import_target(self, environment_id):
        """The environment an upload goes into, once the caller may import
        there: development or staging, and the matrix's 'restore' on its
        stage. Checked before the upload's body is read (controllers/)."""
        if isinstance(environment_id, bool) or not str(environment_id).isdigit():
            raise ValidationError(_("environment_id must be the id of an environment."))
        env = self.env["ops.environment"].browse(int(environment_id)).exists()
        if not env:
            raise ValidationError(_("No environment %s.", environment_id))
        env.check_access("read")
        if env.stage == "production":
            raise UserError(_("Imports go into development or staging environments, never production."))
        env.project_id._ops_check_action(env.stage, "restore")
        return env

    @api.model
    def _import_zip(self, environment_id, path, name=None):
        """Queue the import of a database manager zip at ``path`` (written by
        the upload controller under the import root) into a development or
        staging environment. Private: a path is never taken from a caller."""
        env = self._ops_import_target(environment_id)
        root = self._import_root()
        if not os.path.realpath(path).startswith(root + os.sep):
            raise ValidationError(_("Imports are read from the import directory only."))
        return self._queue_restore(env, {"import_path": path, "import_name": name or os.path.basename(path)})

    # ------------------------------------------------------------------
    # storage
    # ------------------------------------------------------------------
    @api.model
    def _backup_root(self):
        # sudo: configuration parameters are readable by system users only
        param = self.env["ir.config_parameter"].sudo().get_param
        root = param("ipai_ops.backup_root")
        if not root:
            root = os.path.join(self.env["ops.run"]._ops_settings()["work_root"], os.pardir, "backups")
        return os.path.realpath(root)

    @api.model
    def _import_root(self):
        root = os.path.realpath(os.path.join(self._backup_root(), "imports"))
        os.makedirs(root, mode=0o700, exist_ok=True)
        return root

    def _storage_path(self):
        self.ensure_one()
        project = self.project_id
        return os.path.join(self._backup_root(), naming.namespace_for(self.env.cr.dbname), project.slug,
                            "env-%d" % self.environment_id.id, "%s-%s-%d" % (
                                fields.Datetime.now().strftime("%Y%m%dT%H%M%S"), self.kind, self.id))

    @api.model
    def _offsite_settings(self):
        """S3-compatible storage for off-site copies, or None (local only)."""
        # sudo: configuration parameters are readable by system users only
        param = self.env["ir.config_parameter"].sudo().get_param
        if not param("ipai_ops.backup_s3_bucket"):
            return None
        return {"endpoint": param("ipai_ops.backup_s3_endpoint") or None, "bucket": param("ipai_ops.backup_s3_bucket"),
                "access_key": param("ipai_ops.backup_s3_access_key") or "",
                "secret_key": param("ipai_ops.backup_s3_secret_key") or "",
                "region": param("ipai_ops.backup_s3_region") or "us-east-1"}

    def _offsite_prefix(self):
        self.ensure_one()
        return "%s/%s/env-%d/backup-%d" % (naming.namespace_for(self.env.cr.dbname), self.project_id.slug,
                                           self.environment_id.id, self.id)

    def _remove_files(self):
        """Delete this backup's directory (and a partial one), only under the
        backup root, and its off-site copy."""
        root = self._backup_root()
        settings = self._offsite_settings()
        for backup in self.filtered("offsite_location"):
            if settings and backup.offsite_location == storage.url(settings, backup._offsite_prefix()):
                try:
                    storage.delete_prefix(settings, backup._offsite_prefix())
                except storage.StorageError as exc:
                    _logger.warning("ops: backup %s: %s", backup.id, exc)
        for backup in self:
            for path in filter(None, [backup.location, backup.location and backup.location + ".partial"]):
                real = os.path.realpath(path)
                if real.startswith(root + os.sep) and os.path.isdir(real):
                    shutil.rmtree(real, ignore_errors=True)

    def _mark_interrupted(self, message):
        """Backups of a run that died or failed: failed, partial files removed."""
        for backup in self.filtered(lambda b: b.state in ("pending", "running")):
            backup._remove_files()
            # sudo: cron bookkeeping of the platform's own records
            backup.sudo().write({"state": "failed", "error_message": message, "finished_at": fields.Datetime.now()})

    # ------------------------------------------------------------------
    # crons
    # ------------------------------------------------------------------
    @api.model
    def _cron_daily_backups(self):
        """Back up every running production environment once a day."""
        # sudo: a cron over every project; it queues runs, nothing a user asked for
        envs = self.env["ops.environment"].sudo().search([("stage", "=", "production"),
                                                          ("state", "in", ("running", "stopped"))])
        today = fields.Date.to_string(fields.Date.today())
        for env in envs:
            if env.project_id.state != "active":
                continue
            key = "daily-backup-%d-%s" % (env.id, today)
            # sudo: cron, as above
            if self.env["ops.run"].sudo().search_count([("project_id", "=", env.project_id.id),
                                                        ("idempotency_key", "=", key)]):
                continue
            # sudo: cron, as above
            backup = self.sudo().create({"environment_id": env.id, "kind": "daily"})
            # sudo: cron, as above; the run is queued on the project's behalf
            run = self.env["ops.run"].sudo()._ops_queue({
                "project_id": env.project_id.id, "environment_id": env.id, "kind": "backup",
                "config": {"backup_id": backup.id}, "idempotency_key": key, "priority": 5}, trusted=True)
            backup.run_id = run["id"]

    @api.model
    def _cron_apply_retention(self, now=None):
        """Delete the backups the project's retention policy no longer keeps."""
        now = now or fields.Datetime.now()
        deleted = self.browse()
        # sudo: the retention cron goes over every project's backups
        for env in self.sudo().search([("state", "in", ("done", "failed"))]).environment_id:
            project = env.project_id
            # sudo: retention cron, as above
            backups = self.sudo().search([("environment_id", "=", env.id), ("state", "in", ("done", "failed",
                                                                                            "pending", "running"))])
            policy = {"daily": project.backup_keep_daily, "weekly": project.backup_keep_weekly,
                      "monthly": project.backup_keep_monthly, "manual_days": project.backup_manual_days}
            keep, delete = retention.select(
                [{"id": b.id, "kind": b.kind, "state": b.state, "started_at": b.started_at or b.create_date}
                 for b in backups], now, policy, self.env.user.tz or "UTC")
            for backup in backups:
                reason = ", ".join(keep.get(backup.id, []))
                if backup.id in keep and backup.keep_reason != reason:
                    backup.keep_reason = reason
            gone = self.browse(delete)
            gone._remove_files()
            gone.write({"state": "deleted", "keep_reason": False})
            deleted |= gone
        if deleted:
            _logger.info("ops: retention removed %d backups", len(deleted))
        return deleted.ids

    @api.model
    def _cron_restore_drills(self):
        """Drill the latest backup of each production environment (once)."""
        # sudo: the drill cron goes over every production
        envs = self.env["ops.environment"].sudo().search([("stage", "=", "production"), ("state", "!=", "destroyed")])
        for env in envs:
            # sudo: drill cron, as above
            latest = self.sudo().search([("environment_id", "=", env.id), ("state", "=", "done")], limit=1,
                                        order="finished_at desc, id desc")
            if latest and not latest.verify_state:
                latest._queue_drill()

    @api.model
    def _cron_fail_interrupted(self):
        """Backups whose run is over but never finished them (a killed worker)."""
        # sudo: the cleanup cron goes over every project's unfinished backups
        stale = self.sudo().search([("state", "in", ("pending", "running")),
                                    ("create_date", "<", fields.Datetime.now() - timedelta(minutes=5))])
        stale.filtered(lambda b: not b.run_id or b.run_id.state in ("failed", "canceled", "succeeded")) \
            ._mark_interrupted(_("The run ended without finishing the backup."))

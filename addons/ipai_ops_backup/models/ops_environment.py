import datetime

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.models import bulk


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

    may_backup = fields.Boolean(compute="_compute_may_backup", help="The stage matrix lets you back it up.")

    @api.depends_context("uid")
    @api.depends("stage", "project_id")
    def _compute_may_backup(self):
        for env in self:
            env.may_backup = bool(env.project_id and env.stage) and env.project_id._ops_may(env.stage, "backup")

    def action_backup_now(self):
        self.ensure_one()
        backup = self.env["ops.backup"].create_backup({"project_id": self.project_id.id,
                                                       "environment_id": self.id})
        return self._open_run(self.env["ops.run"].browse(backup["run_id"]))

    def action_bulk_backup(self):
        def backup(env):
            result = env.env["ops.backup"].create_backup({"project_id": env.project_id.id, "environment_id": env.id})
            return env.env["ops.run"].browse(result["run_id"]).display_name
        return bulk.each(self, _("Backup queued"), backup, _("No backup queued"))

    def action_view_backups(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_backup.action_ops_backup")
        action["domain"] = [("environment_id", "=", self.id)]
        return action

    # Point-in-time recovery (production's cluster: ops.pitr), read when the form shows them.
    pitr_earliest = fields.Datetime("Restorable from", compute="_compute_pitr",
                                    help="The end of the oldest backup in production's cluster's repository (UTC).")
    pitr_latest = fields.Datetime("Restorable up to", compute="_compute_pitr",
                                  help="The last second whose WAL is archived (now, when nothing waits).")
    pitr_lag = fields.Float("Archive lag (s)", compute="_compute_pitr",
                            help="How long written data has been waiting to be archived; 0 when nothing waits.")
    pitr_last_wal = fields.Char("Last archived WAL", compute="_compute_pitr")
    pitr_failing = fields.Boolean("Archiving fails", compute="_compute_pitr")
    pitr_repo_mb = fields.Float("Repository (MB)", compute="_compute_pitr", digits=(16, 1))
    pitr_state = fields.Char("Point-in-time recovery", compute="_compute_pitr")

    @api.depends_context("uid")
    @api.depends("db_cluster", "stage")
    def _compute_pitr(self):
        empty = {"pitr_earliest": False, "pitr_latest": False, "pitr_lag": 0.0, "pitr_last_wal": False,
                 "pitr_failing": False, "pitr_repo_mb": 0.0}
        on_cluster = self.filtered(lambda e: e.stage == "production" and e.db_cluster == "production")
        window, problem = None, None
        if on_cluster:
            try:
                window = self.env["ops.pitr"]._ops_window()
            except Exception as exc:  # noqa: BLE001 - shown on the form, never raised from a read
                problem = str(exc).splitlines()[0][:300]
        # sudo: whether the cluster exists (a port number), for the state line of a form the user may read
        cluster_exists = bool(self.env["ir.config_parameter"].sudo().get_param("ipai_ops.production_db_port"))
        for env in self:
            if env not in on_cluster:
                state = False
                if env.stage == "production":
                    state = (_("Moves onto production's cluster with its next deploy: until then, restores from "
                               "daily backups only") if cluster_exists and env.database_name else
                             _("Not on production's cluster: restores from daily backups only"))
                env.update(dict(empty, pitr_state=state))
            elif not window:
                env.update(dict(empty, pitr_state=_("Unknown: %s", problem or _("production's cluster is not set up"))))
            else:
                env.update({
                    "pitr_earliest": _naive_utc(window["earliest"]), "pitr_latest": _naive_utc(window["latest"]),
                    "pitr_lag": window["lag"] or 0.0, "pitr_last_wal": window["last_wal"] or False,
                    "pitr_failing": window["failing"], "pitr_repo_mb": window["repo_bytes"] / 1e6,
                    "pitr_state": _("Archiving FAILS since %(since)s (WAL %(wal)s)", since=window["failed_at"],
                                        wal=window["failed_wal"])
                    if window["failing"] else _("Archived continuously")})

    pitr_drill = fields.Char("Last point-in-time drill", compute="_compute_pitr_drill",
                             help="The last drill to a random mark of the window: the moment it restored to, "
                                  "and what it found.")
    pitr_drill_failed = fields.Boolean(compute="_compute_pitr_drill")

    @api.depends_context("uid")
    @api.depends("db_cluster")
    def _compute_pitr_drill(self):
        for env in self:
            # sudo: the verdict's summary on the environment's own form (the marks' counts stay unread)
            mark = self.env["ops.pitr.mark"].sudo().search([("environment_id", "=", env.id or 0),
                                                            ("verify_state", "!=", False)],
                                                           order="verified_at desc, id desc", limit=1)
            env.pitr_drill = _("%(state)s on %(when)s UTC, to %(target)s: %(message)s", state=dict(
                mark._fields["verify_state"].selection)[mark.verify_state], when=mark.verified_at,
                target=mark.target, message=mark.verify_message) if mark else False
            env.pitr_drill_failed = mark.verify_state == "failed"

    def action_drill_pitr(self):
        self.ensure_one()
        run = self.env["ops.pitr.mark"]._ops_queue_drill(self)
        return self._open_run(run)

    def action_restore_pitr(self):
        self.ensure_one()
        return {"type": "ir.actions.act_window", "res_model": "ops.pitr.restore", "view_mode": "form",
                "target": "new", "name": _("Restore to a point in time"),
                "context": {"default_environment_id": self.id}}


def _naive_utc(moment):
    """An aware datetime (the server's time zone may be any) as Odoo keeps them: naive UTC."""
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None) if moment else False

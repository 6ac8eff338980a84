from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class OpsProject(models.Model):
    _inherit = "ops.project"

    backup_keep_daily = fields.Integer("Daily backups kept", default=7)
    backup_keep_weekly = fields.Integer("Weekly backups kept", default=4)
    backup_keep_monthly = fields.Integer("Monthly backups kept", default=3)
    backup_manual_days = fields.Integer("Manual backups kept (days)", default=30,
                                        help="Manual, pre-deploy and pre-restore backups expire after this.")
    backup_manual_daily_cap = fields.Integer("Manual backups per day", default=5)
    backup_ids = fields.One2many("ops.backup", "project_id", "Backups")
    backup_count = fields.Integer("Number of backups", compute="_compute_backup_count")
    staging_source = fields.Selection(
        selection_add=[("backup", "Latest verified backup")], ondelete={"backup": "set default"},
        help="Live production: a copy of production's database and filestore at build time, production keeps "
             "serving. Latest verified backup: the copy the last restore drill verified, in seconds and without "
             "touching production.")

    @api.constrains("backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly", "backup_manual_days",
                    "backup_manual_daily_cap")
    def _check_backup_policy(self):
        for project in self:
            values = (project.backup_keep_daily, project.backup_keep_weekly, project.backup_keep_monthly,
                      project.backup_manual_days, project.backup_manual_daily_cap)
            if min(values) < 0 or max(values) > 3650:
                raise ValidationError(_("Backup retention values are between 0 and 3650."))

    def _compute_backup_count(self):
        counts = dict(self.env["ops.backup"]._read_group([("project_id", "in", self.ids), ("state", "=", "done")],
                                                         ["project_id"], ["__count"]))
        for project in self:
            project.backup_count = counts.get(project, 0)

    def action_view_backups(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_backup.action_ops_backup")
        action["domain"] = [("project_id", "=", self.id)]
        return action

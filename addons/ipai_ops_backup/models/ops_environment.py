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

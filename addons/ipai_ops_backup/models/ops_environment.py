from odoo import models


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

    def action_backup_now(self):
        self.ensure_one()
        backup = self.env["ops.backup"].create_backup({"project_id": self.project_id.id,
                                                       "environment_id": self.id})
        return self._open_run(self.env["ops.run"].browse(backup["run_id"]))

    def action_view_backups(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_backup.action_ops_backup")
        action["domain"] = [("environment_id", "=", self.id)]
        return action

from odoo import _, models
from odoo.addons.ipai_ops_core.models import bulk


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

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

from odoo import api, fields, models


class OpsPitrRestore(models.TransientModel):
    """The form behind *Restore to a point in time*: a second (shown in the
    user's time zone, kept in UTC) and where production goes back to it."""

    _name = "ops.pitr.restore"
    _description = "Restore production to a point in time"

    environment_id = fields.Many2one("ops.environment", required=True, readonly=True, ondelete="cascade",
                                     domain=[("stage", "=", "production")])
    at = fields.Datetime("Restore as it was at", required=True, default=fields.Datetime.now)
    target = fields.Selection([("staging", "Into staging (neutralized)"),
                               ("production", "Into production itself (a backup first, then the switch)")],
                              required=True, default="staging")
    earliest = fields.Datetime(related="environment_id.pitr_earliest")
    latest = fields.Datetime(related="environment_id.pitr_latest")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        env = self.env["ops.environment"].browse(values.get("environment_id")).exists()
        if env:
            env.check_access("read")
        return values

    def action_restore(self):
        self.ensure_one()
        run = self.env["ops.pitr"].restore(self.environment_id.project_id.slug,
                                           fields.Datetime.to_string(self.at), self.target)
        return self.environment_id._open_run(self.env["ops.run"].browse(run["id"]))

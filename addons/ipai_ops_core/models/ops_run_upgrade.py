from odoo import fields, models


class OpsRun(models.Model):
    """What an upgrade run (scan, preview, upgrade) reports, beyond its log:
    the summary the Upgrade tab, the CLI and XML-RPC show."""

    _inherit = "ops.run"

    upgrade_to = fields.Char("Target version", readonly=True, copy=False)
    upgrade_report = fields.Json(readonly=True, copy=False)
    finding_ids = fields.One2many("ops.upgrade.finding", "run_id", "Findings", readonly=True)

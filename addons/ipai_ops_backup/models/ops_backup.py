from odoo import fields, models


class OpsBackup(models.Model):
    """A backup of an environment. Taking, retaining and restoring them is
    filled in by the backup issue; this is the record the UI and the
    access rules are built around."""

    _name = "ops.backup"
    _description = "Ops backup"
    _order = "started_at desc, id desc"

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="restrict", index=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    kind = fields.Selection(
        [("daily", "Daily"), ("manual", "Manual"), ("pre_deploy", "Pre-deploy"), ("pre_restore", "Pre-restore")],
        required=True, default="manual",
    )
    state = fields.Selection(
        [("pending", "Pending"), ("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        required=True, default="pending",
    )
    run_id = fields.Many2one("ops.run", ondelete="set null")
    started_at = fields.Datetime()
    finished_at = fields.Datetime()
    size = fields.Integer("Size (bytes)")
    location = fields.Char("Storage location")

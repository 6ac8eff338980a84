from odoo import fields, models


class OpsAlertDelivery(models.Model):
    """One notification of one incident event to one webhook channel,
    retried with backoff by its cron (collection never waits for it), each
    attempt's outcome kept."""

    _name = "ops.alert.delivery"
    _description = "Ops alert delivery"
    _order = "id desc"

    incident_id = fields.Many2one("ops.incident", required=True, ondelete="cascade", index=True, readonly=True)
    project_id = fields.Many2one(related="incident_id.project_id", store=True)
    stage = fields.Selection(related="incident_id.stage", store=True)
    channel_id = fields.Many2one("ops.alert.channel", required=True, ondelete="cascade", readonly=True)
    event = fields.Selection([("open", "Opened"), ("repeat", "Still open"), ("resolve", "Resolved")], required=True,
                             readonly=True)
    payload = fields.Json(readonly=True)
    state = fields.Selection([("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")], default="pending",
                             required=True, index=True, readonly=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime("Next attempt at", readonly=True, index=True)
    last_status = fields.Char("Last status", readonly=True, help="The receiver's HTTP status or the error")
    sent_at = fields.Datetime("Sent at", readonly=True)

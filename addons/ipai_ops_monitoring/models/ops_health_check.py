from odoo import fields, models


class OpsHealthCheck(models.Model):
    """One health probe of an environment (/web/health). Probing, metrics
    and alerting are filled in by the monitoring issue."""

    _name = "ops.health.check"
    _description = "Ops health check"
    _order = "checked_at desc, id desc"
    _log_access = False

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    checked_at = fields.Datetime(required=True, default=fields.Datetime.now)
    status = fields.Selection([("up", "Up"), ("degraded", "Degraded"), ("down", "Down")], required=True)
    http_status = fields.Integer("HTTP status")
    latency_ms = fields.Integer("Latency (ms)")
    message = fields.Char()

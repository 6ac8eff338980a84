from odoo import fields, models


class OpsContainerEvent(models.Model):
    """What Docker said about an environment's container: it died (with its
    exit code), was killed for memory (OOM) or restarted."""

    _name = "ops.container.event"
    _description = "Ops container event"
    _order = "at desc, id desc"
    _log_access = False

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True)
    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    stage = fields.Selection(related="environment_id.stage")
    at = fields.Datetime("Time", required=True, index=True)
    action = fields.Selection([("die", "Died"), ("oom", "Out of memory"), ("restart", "Restarted")], required=True)
    container_id = fields.Char("Container ID")
    exit_code = fields.Integer("Exit code")

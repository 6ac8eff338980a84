from odoo import fields, models


class OpsMetricState(models.Model):
    """Where the collector is for one environment: the last CPU and process
    readings (a share of CPU is the difference of two), the OOM counter, the
    cursor in the environment's kept log (services/env_log.py: survives
    restarts of the collector and switches of the container, never reads a
    line twice), the filestore size cache and the Docker events read."""

    _name = "ops.metric.state"
    _description = "Ops metric collector state"
    _log_access = False

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade")
    container_id = fields.Char()
    read_at = fields.Float("Read at (epoch)")
    cpu_ns = fields.Float()
    processes = fields.Json()
    oom_kills = fields.Integer()
    log_cursor = fields.Char()
    filestore_cache = fields.Json()
    collecting_since = fields.Datetime()

    _sql_constraints = [
        ("environment_uniq", "unique(environment_id)", "One collector state per environment."),
    ]

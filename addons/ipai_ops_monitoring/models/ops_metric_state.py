from odoo import fields, models


class OpsMetricState(models.Model):
    """Where the collector is for one environment: the last CPU and process
    readings (a share of CPU is the difference of two), the OOM counter, the
    cursor in the environment's kept log (services/env_log.py: survives
    restarts of the collector and switches of the container, never reads a
    line twice), the filestore size cache. And what the fleet overview
    shows: the environment's latest figures and its last hour as
    sparklines, sortable by what hurts most."""

    _name = "ops.metric.state"
    _description = "Ops metric collector state"
    _log_access = False

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade")
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    environment_state = fields.Selection(related="environment_id.state", string="State")
    cpu_pct = fields.Float("CPU %", help="Last minute, % of one core", readonly=True)
    mem_pct = fields.Float("Memory %", help="Of the container's limit", readonly=True)
    error_pct = fields.Float("5xx %", help="Of the requests of the last complete minute", readonly=True)
    p95_ms = fields.Float("p95 (ms)", help="Last complete minute", readonly=True)
    health_ok = fields.Boolean("Up", readonly=True)
    collected_at = fields.Datetime(readonly=True)
    spark_cpu = fields.Json("CPU, last hour", readonly=True)
    spark_p95 = fields.Json("p95, last hour", readonly=True)
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

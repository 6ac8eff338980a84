from odoo import fields, models

# Cumulative counter (state field) -> the request column of a folded minute it adds up.
REQUEST_TOTALS = {"requests_2xx_total": "req_2xx", "requests_3xx_total": "req_3xx",
                  "requests_4xx_total": "req_4xx", "requests_5xx_total": "req_5xx"}


class BigInteger(fields.Integer):
    """An integer in a bigint column: a counter that only grows passes 2^31
    (two billion requests) in the life of a busy production."""

    _column_type = ("int8", "int8")


class OpsMetricState(models.Model):
    """Where the collector is for one environment: the last CPU and process
    readings (a share of CPU is the difference of two), the OOM counter, the
    cursor in the environment's kept log (services/env_log.py: survives
    restarts of the collector and switches of the container, never reads a
    line twice), the filestore size cache. And what the fleet overview
    shows: the environment's latest figures and its last hour as
    sparklines, sortable by what hurts most. And the monotonic totals /metrics
    exposes as Prometheus counters: what the collector counted for the
    environment since it started collecting it (never a sum of the samples,
    which expire after 14 days)."""

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
    collected_at = fields.Datetime("Collected at", readonly=True)
    spark_cpu = fields.Json("CPU, last hour", readonly=True)
    spark_p95 = fields.Json("p95, last hour", readonly=True)
    container_id = fields.Char("Container ID")
    read_at = fields.Float("Read at (epoch)")
    cpu_ns = fields.Float("CPU time (ns)")
    processes = fields.Json()
    oom_kills = fields.Integer("OOM kills (last reading)")
    log_cursor = fields.Char("Log cursor")
    filestore_cache = fields.Json("Filestore cache")
    collecting_since = fields.Datetime("Collecting since")
    requests_2xx_total = BigInteger("2xx requests since collecting", readonly=True)
    requests_3xx_total = BigInteger("3xx requests since collecting", readonly=True)
    requests_4xx_total = BigInteger("4xx requests since collecting", readonly=True)
    requests_5xx_total = BigInteger("5xx requests since collecting", readonly=True)
    oom_kills_total = BigInteger("OOM kills since collecting", readonly=True)

    _sql_constraints = [
        ("environment_uniq", "unique(environment_id)", "One collector state per environment."),
    ]

    def _ops_totals_after(self, resources, minutes):
        """The totals once one collection is counted: ``resources`` (its
        ``oom_kills``: kills since the previous reading) and ``minutes`` (the
        request minutes it folded). Written with the log cursor and the OOM
        reading they come from, in one transaction: each request and each kill
        is counted once."""
        self.ensure_one()
        totals = {name: self[name] + sum(figures.get(column) or 0 for figures in minutes.values())
                  for name, column in REQUEST_TOTALS.items()}
        totals["oom_kills_total"] = self.oom_kills_total + (resources.get("oom_kills") or 0)
        return totals

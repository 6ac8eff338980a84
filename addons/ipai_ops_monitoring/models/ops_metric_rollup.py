from odoo import fields, models
from odoo.tools import SQL

# (column, how an hour of minutes becomes one value)
ROLLUP = (("cpu_pct", "avg"), ("cpu_http_pct", "avg"), ("cpu_cron_pct", "avg"), ("mem_bytes", "max"),
          ("mem_limit_bytes", "max"), ("oom_kills", "sum"), ("requests", "sum"), ("req_2xx", "sum"),
          ("req_3xx", "sum"), ("req_4xx", "sum"), ("req_5xx", "sum"), ("p50_ms", "avg"), ("p95_ms", "max"),
          ("p99_ms", "max"), ("concurrency", "max"), ("queries_per_request", "avg"), ("sql_share", "avg"),
          ("unparsed", "sum"), ("db_bytes", "max"), ("db_connections", "max"), ("longest_xact_s", "max"),
          ("lock_waits", "max"), ("filestore_bytes", "max"), ("health_ms", "avg"), ("backup_age_h", "max"),
          ("disk_used_pct", "max"), ("archive_lag_s", "max"), ("archive_failing", "max"))


class OpsMetricRollup(models.Model):
    """One environment's figures for one hour, rolled up from its minutes
    (sums of counts, averages of rates, the worst p95/p99 and memory), kept
    13 months. ``health_failures``: minutes whose probe failed."""

    _name = "ops.metric.rollup"
    _description = "Ops metric rollup (one hour)"
    _order = "hour"
    _inherit = "ops.metric.figures"
    _log_access = False

    hour = fields.Datetime(required=True)
    minutes = fields.Integer("Minutes sampled")
    health_failures = fields.Integer("Minutes with a failed health probe")
    mem_bytes = fields.Float("Memory used (max)")
    p50_ms = fields.Float("p50 (ms, mean of minutes)")
    p95_ms = fields.Float("p95 (ms, worst minute)")
    p99_ms = fields.Float("p99 (ms, worst minute)")

    _sql_constraints = [
        ("environment_hour_uniq", "unique(environment_id, hour)", "One rollup per environment and hour."),
    ]

    def _ops_roll_up(self, until):
        """Roll up the complete hours before ``until`` (again, if more
        minutes came): the first time every hour there is, then only the
        hours since the last roll-up, with two hours of margin for minutes
        written late. One statement."""
        params = self.env["ir.config_parameter"].sudo()  # sudo: the cron's own bookmark
        since = params.get_param("ipai_ops_monitoring.rolled_until") or None
        # The aggregate functions are the constants of ROLLUP (avg, max, sum).
        aggregates = SQL(", ").join(SQL("%s(%s)", SQL(how), SQL.identifier(column)) for column, how in ROLLUP)
        columns = [column for column, _how in ROLLUP]
        updates = SQL(", ").join(SQL("%s = %s", SQL.identifier(c), SQL.identifier("excluded", c))
                                 for c in ("minutes", "health_failures", *columns))
        self.env.cr.execute(SQL("""
            INSERT INTO ops_metric_rollup (environment_id, project_id, hour, minutes, health_failures, %s)
            SELECT environment_id, max(project_id), date_trunc('hour', minute), count(*),
                   count(*) FILTER (WHERE NOT health_ok), %s
              FROM ops_metric_sample WHERE minute < date_trunc('hour', %s::timestamp)
               AND minute >= coalesce(%s::timestamp - interval '2 hours', '-infinity'::timestamp)
             GROUP BY environment_id, date_trunc('hour', minute)
            ON CONFLICT (environment_id, hour) DO UPDATE SET %s""",
            SQL(", ").join(map(SQL.identifier, columns)), aggregates, until, since, updates))
        self.env.cr.execute("SELECT date_trunc('hour', %s::timestamp)", [until])
        params.set_param("ipai_ops_monitoring.rolled_until", str(self.env.cr.fetchone()[0]))
        self.invalidate_model()

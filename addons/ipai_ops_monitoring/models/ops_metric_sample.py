import json

from odoo import fields, models
from odoo.tools import SQL

# Columns a collection writes, by what measures them.
RESOURCE_COLUMNS = ("cpu_pct", "cpu_http_pct", "cpu_cron_pct", "mem_bytes", "mem_limit_bytes", "oom_kills",
                    "db_bytes", "db_connections", "longest_xact_s", "lock_waits", "filestore_bytes",
                    "health_ok", "health_ms", "backup_age_h", "disk_used_pct", "archive_lag_s", "archive_failing")
COUNTERS = {"oom_kills"}  # events counted since the previous reading
REQUEST_COLUMNS = ("requests", "req_2xx", "req_3xx", "req_4xx", "req_5xx", "p50_ms", "p95_ms", "p99_ms",
                   "concurrency", "queries_per_request", "sql_share", "routes", "unparsed")


class OpsMetricSample(models.Model):
    """One environment's figures for one minute, kept 14 days (then only
    their hourly rollup, ops.metric.rollup). Written in bulk by the
    collector (one row per environment and minute, upserted: the resource
    figures at the minute they are read, the request figures once the
    minute is over), read by ranges of (environment, minute)."""

    _name = "ops.metric.sample"
    _description = "Ops metric sample (one minute)"
    _order = "minute"
    _inherit = "ops.metric.figures"
    _log_access = False

    minute = fields.Datetime(required=True)
    routes = fields.Json("Slowest routes")
    health_ok = fields.Boolean("Health probe passed")

    _sql_constraints = [
        ("environment_minute_uniq", "unique(environment_id, minute)", "One sample per environment and minute."),
    ]

    def init(self):
        # Range reads by environment and time: the unique index above serves them.
        self.env.cr.execute("CREATE INDEX IF NOT EXISTS ops_metric_sample_minute_idx ON ops_metric_sample (minute)")

    def _ops_upsert(self, rows, columns):
        """Write ``rows`` (dicts with environment_id, project_id, minute and
        ``columns``) in one statement; an existing (environment, minute)
        gets those columns replaced and keeps the others."""
        if not rows:
            return
        names = ["environment_id", "project_id", "minute", *columns]
        values = []
        for row in rows:
            values.append(tuple(json.dumps(row.get(c)) if c == "routes" and row.get(c) is not None else row.get(c)
                                for c in names))
        # A counter read twice in one minute (two collectors) adds up.
        sets = [SQL("%s = COALESCE(%s, 0) + %s", SQL.identifier(c), SQL.identifier("ops_metric_sample", c),
                    SQL.identifier("excluded", c)) if c in COUNTERS
                else SQL("%s = %s", SQL.identifier(c), SQL.identifier("excluded", c)) for c in columns]
        self.env.cr.execute(SQL(
            "INSERT INTO ops_metric_sample (%s) VALUES %s ON CONFLICT (environment_id, minute) DO UPDATE SET %s",
            SQL(", ").join(map(SQL.identifier, names)), SQL(", ").join(SQL("%s", row) for row in values),
            SQL(", ").join(sets)))
        self.invalidate_model()

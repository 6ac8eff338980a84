import json

from odoo import fields, models
from psycopg2.extras import execute_values

# Columns a collection writes, by what measures them.
RESOURCE_COLUMNS = ("cpu_pct", "cpu_http_pct", "cpu_cron_pct", "mem_bytes", "mem_limit_bytes", "oom_kills",
                    "db_bytes", "db_connections", "longest_xact_s", "lock_waits", "filestore_bytes",
                    "health_ok", "health_ms", "backup_age_h", "disk_used_pct")
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
    _log_access = False

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=False)
    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    stage = fields.Selection(related="environment_id.stage")
    minute = fields.Datetime(required=True)
    cpu_pct = fields.Float("CPU (% of a core)")
    cpu_http_pct = fields.Float("CPU, HTTP workers")
    cpu_cron_pct = fields.Float("CPU, cron workers")
    mem_bytes = fields.Float("Memory used")
    mem_limit_bytes = fields.Float("Memory limit")
    oom_kills = fields.Integer("OOM kills (this minute)")
    requests = fields.Integer()
    req_2xx = fields.Integer("2xx")
    req_3xx = fields.Integer("3xx")
    req_4xx = fields.Integer("4xx")
    req_5xx = fields.Integer("5xx")
    p50_ms = fields.Float("p50 (ms)")
    p95_ms = fields.Float("p95 (ms)")
    p99_ms = fields.Float("p99 (ms)")
    concurrency = fields.Integer(help="The most requests in flight at once")
    queries_per_request = fields.Float()
    sql_share = fields.Float("SQL share of time")
    routes = fields.Json("Slowest routes")
    unparsed = fields.Integer("Log lines not parsed")
    db_bytes = fields.Float("Database size")
    db_connections = fields.Integer()
    longest_xact_s = fields.Float("Longest transaction (s)")
    lock_waits = fields.Integer()
    filestore_bytes = fields.Float("Filestore size")
    health_ok = fields.Boolean("Health probe passed")
    health_ms = fields.Float("Health probe (ms)")
    backup_age_h = fields.Float("Age of the last good backup (h)")
    disk_used_pct = fields.Float("Disk of the filestores, % used")

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
        # Column names come from the constants above, never from callers. A
        # counter read twice in one minute (two collectors) adds up.
        sets = ["%s = COALESCE(ops_metric_sample.%s, 0) + EXCLUDED.%s" % (c, c, c) if c in COUNTERS
                else "%s = EXCLUDED.%s" % (c, c) for c in columns]
        sql = "INSERT INTO ops_metric_sample (%s) VALUES %%s ON CONFLICT (environment_id, minute) DO UPDATE SET %s" % (
            ", ".join(names), ", ".join(sets))
        execute_values(self.env.cr, sql, values)
        self.invalidate_model()

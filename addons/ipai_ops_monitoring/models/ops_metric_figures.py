from odoo import fields, models


class OpsMetricFigures(models.AbstractModel):
    """The figures a minute sample and an hourly rollup share (one column each)."""

    _name = "ops.metric.figures"
    _description = "Ops metric figures"

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=False)
    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    stage = fields.Selection(related="environment_id.stage")
    cpu_pct = fields.Float("CPU (% of a core)")
    cpu_http_pct = fields.Float("CPU, HTTP workers")
    cpu_cron_pct = fields.Float("CPU, cron workers")
    mem_bytes = fields.Float("Memory used")
    mem_limit_bytes = fields.Float("Memory limit")
    oom_kills = fields.Integer("OOM kills")
    requests = fields.Integer()
    req_2xx = fields.Integer("2xx")
    req_3xx = fields.Integer("3xx")
    req_4xx = fields.Integer("4xx")
    req_5xx = fields.Integer("5xx")
    p50_ms = fields.Float("p50 (ms)")
    p95_ms = fields.Float("p95 (ms)")
    p99_ms = fields.Float("p99 (ms)")
    concurrency = fields.Integer(help="The most requests in flight at once")
    queries_per_request = fields.Float("Queries per request")
    sql_share = fields.Float("SQL share of time")
    unparsed = fields.Integer("Log lines not parsed")
    db_bytes = fields.Float("Database size")
    db_connections = fields.Integer("Database connections")
    longest_xact_s = fields.Float("Longest transaction (s)")
    lock_waits = fields.Integer("Lock waits")
    filestore_bytes = fields.Float("Filestore size")
    health_ms = fields.Float("Health probe (ms)")
    backup_age_h = fields.Float("Age of the last good backup (h)")
    disk_used_pct = fields.Float("Disk of the filestores, % used")
    archive_lag_s = fields.Float("WAL archive lag (s)")
    archive_failing = fields.Float("WAL archiving fails (1) or works (0)")

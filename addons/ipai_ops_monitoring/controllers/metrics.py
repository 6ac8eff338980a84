"""/metrics for Prometheus: the latest collected figures of the environments
the caller may monitor, in Prometheus's text format (prometheus_client),
labelled by project, environment (its branch) and stage: gauges, and the
counters ``ipai_ops_requests_total{status}`` and ``ipai_ops_oom_kills_total``
(the totals kept on the collector's state: monotonic, they outlive the
samples they were counted from).

Authenticated with an Odoo API key as a bearer token (``authorization:
credentials`` in the scrape config): the key's user gets the environments
the stage matrix lets them monitor, exactly as over XML-RPC."""

from datetime import timedelta

from odoo import fields, http
from odoo.http import request
from odoo.tools import SQL
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily

from ..models.ops_metric_state import REQUEST_TOTALS

LOOKBACK_MINUTES = 5  # the request figures of a minute arrive once it is over

# (metric name, help, sample column, scale)
GAUGES = (
    ("ipai_ops_cpu_percent", "CPU used, percent of one core", "cpu_pct", 1),
    ("ipai_ops_cpu_http_percent", "CPU used by HTTP workers, percent of one core", "cpu_http_pct", 1),
    ("ipai_ops_cpu_cron_percent", "CPU used by cron workers, percent of one core", "cpu_cron_pct", 1),
    ("ipai_ops_memory_bytes", "Memory used by the container (less inactive file cache)", "mem_bytes", 1),
    ("ipai_ops_memory_limit_bytes", "Memory limit of the container", "mem_limit_bytes", 1),
    ("ipai_ops_oom_kills", "Processes killed for memory in the last minute", "oom_kills", 1),
    ("ipai_ops_requests_per_minute", "HTTP requests in the last complete minute", "requests", 1),
    ("ipai_ops_response_time_p50_seconds", "Median response time, last complete minute", "p50_ms", 0.001),
    ("ipai_ops_response_time_p95_seconds", "95th percentile response time, last complete minute", "p95_ms", 0.001),
    ("ipai_ops_response_time_p99_seconds", "99th percentile response time, last complete minute", "p99_ms", 0.001),
    ("ipai_ops_requests_in_flight_max", "Most requests in flight at once, last complete minute", "concurrency", 1),
    ("ipai_ops_sql_time_ratio", "Share of request time spent in SQL, last complete minute", "sql_share", 1),
    ("ipai_ops_database_bytes", "Size of the environment's database", "db_bytes", 1),
    ("ipai_ops_database_connections", "Connections to the environment's database", "db_connections", 1),
    ("ipai_ops_longest_transaction_seconds", "Age of the longest running transaction", "longest_xact_s", 1),
    ("ipai_ops_lock_waits", "Sessions waiting on a lock", "lock_waits", 1),
    ("ipai_ops_filestore_bytes", "Size of the environment's filestore", "filestore_bytes", 1),
    ("ipai_ops_health_probe_seconds", "Latency of the /web/health probe", "health_ms", 0.001),
    ("ipai_ops_last_backup_age_hours", "Hours since the last good backup (production)", "backup_age_h", 1),
    ("ipai_ops_wal_archive_lag_seconds", "How far the WAL archive of production's cluster is behind",
     "archive_lag_s", 1),
    ("ipai_ops_wal_archive_failing", "Whether WAL archiving of production's cluster fails", "archive_failing", 1),
)
STATUS = ("req_2xx", "req_3xx", "req_4xx", "req_5xx")
LABELS = ("project", "environment", "stage")


class Totals:
    """The counters, a collector of the scrape's registry: families named
    without ``_total`` (prometheus_client adds it), no ``_created`` sample
    (a per-scrape Counter object would say it restarted at every scrape)."""

    def __init__(self, states, labels_of):
        self.states, self.labels_of = states, labels_of

    def collect(self):
        requests = CounterMetricFamily("ipai_ops_requests", "HTTP requests by status class, since the collector "
                                       "started collecting the environment", labels=LABELS + ("status",))
        kills = CounterMetricFamily("ipai_ops_oom_kills", "Processes killed for memory, since the collector "
                                    "started collecting the environment", labels=LABELS)
        for state in self.states:
            labels = self.labels_of(state.environment_id.id)
            for name, column in REQUEST_TOTALS.items():
                requests.add_metric(labels + (column[4:],), state[name])
            kills.add_metric(labels, state.oom_kills_total)
        yield requests
        yield kills


class OpsMetricsController(http.Controller):
    @http.route("/metrics", type="http", auth="bearer", methods=["GET"], readonly=True, save_session=False)
    def metrics(self, **_kwargs):
        since = fields.Datetime.now() - timedelta(minutes=LOOKBACK_MINUTES)
        # The caller's rights: record rules give the samples of the environments they may monitor.
        allowed = request.env["ops.metric.sample"].search([("minute", ">=", since)]).ids
        columns = [g[2] for g in GAUGES] + list(STATUS) + ["health_ok"]
        latest = {}  # environment id -> {column: its most recent value that was measured}
        if allowed:
            # NULL (not measured) stays None here.
            request.env.cr.execute(SQL("SELECT environment_id, %s FROM ops_metric_sample WHERE id = ANY(%s) "
                                       "ORDER BY minute DESC", SQL(", ").join(map(SQL.identifier, columns)), allowed))
            for row in request.env.cr.fetchall():
                values = latest.setdefault(row[0], {})
                for column, value in zip(columns, row[1:], strict=True):
                    if value is not None and column not in values:
                        values[column] = value
        registry = CollectorRegistry()
        gauges = {name: Gauge(name, text, LABELS, registry=registry) for name, text, _c, _s in GAUGES}
        by_status = Gauge("ipai_ops_requests_by_status_per_minute", "HTTP requests by status class, last complete "
                          "minute", LABELS + ("status",), registry=registry)
        up = Gauge("ipai_ops_up", "1 when the environment's health probe passed at the last collection",
                   LABELS, registry=registry)
        # sudo: the slug and branch of environments whose samples the caller may read; read at once
        envs = request.env["ops.environment"].sudo().browse(list(latest))
        envs.read(["branch", "stage", "project_id"])
        envs.project_id.read(["slug"])

        def labels_of(env_id):
            env = envs.browse(env_id)
            return (env.project_id.slug, env.branch or str(env.id), env.stage or "")

        for env_id, values in latest.items():
            labels = labels_of(env_id)
            for name, _text, column, scale in GAUGES:
                if column in values:
                    gauges[name].labels(*labels).set(values[column] * scale)
            for column in STATUS:
                if column in values:
                    by_status.labels(*labels, column[4:]).set(values[column])
            up.labels(*labels).set(1 if values.get("health_ok") else 0)
        # The caller's rights again: the states record rules let them read, of the environments above.
        registry.register(Totals(request.env["ops.metric.state"].search([("environment_id", "in", list(latest))]),
                                 labels_of))
        return request.make_response(generate_latest(registry), headers=[("Content-Type", CONTENT_TYPE_LATEST)])

import logging
import time
from datetime import datetime, timedelta, timezone

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.executors import paths
from odoo.addons.ipai_ops_core.models.rpc_args import time_arg, valid_records
from odoo.addons.ipai_ops_core.services import naming, runtime
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..services import cgroup, collector
from .ops_metric_rollup import ROLLUP
from .ops_metric_sample import REQUEST_COLUMNS, RESOURCE_COLUMNS

_logger = logging.getLogger(__name__)
SAMPLE_DAYS = 14
SERVING_STATES = ("running", "building")
ROLLUP_DAYS = 396  # 13 months
SERIES = ("disk_used_pct", "cpu_pct", "cpu_http_pct", "cpu_cron_pct", "mem_bytes", "mem_limit_bytes", "oom_kills",
          "requests", "req_2xx", "req_3xx", "req_4xx", "req_5xx", "p50_ms", "p95_ms", "p99_ms", "concurrency",
          "queries_per_request", "sql_share", "db_bytes", "db_connections", "longest_xact_s", "lock_waits",
          "filestore_bytes", "health_ms", "backup_age_h", "archive_lag_s", "archive_failing")


def _minute(epoch):
    return datetime.fromtimestamp(int(epoch) // 60 * 60, timezone.utc).replace(tzinfo=None)


class OpsEnvironment(models.Model):
    """The collector (once a minute, the cron on a single box) and the
    metrics read over XML-RPC (``ops env metrics``) under the stage matrix's
    *monitoring*."""

    _inherit = "ops.environment"

    may_monitoring = fields.Boolean(compute="_compute_may_monitoring",
                                    help="The stage matrix lets you read its monitoring.")

    @api.depends_context("uid")
    @api.depends("stage", "project_id")
    def _compute_may_monitoring(self):
        for env in self:
            env.may_monitoring = bool(env.project_id and env.stage) and env.project_id._ops_may(env.stage,
                                                                                               "monitoring")

    # -- collecting ----------------------------------------------------------

    @api.model
    def _cron_collect_metrics(self, host="local"):
        """Collect every running environment of ``host``; each in a
        transaction of its own (one broken environment never stops the others)."""
        # sudo: the collector watches every project's environments
        # An environment without a host lives on the local one.
        hosts = (host, False) if host == "local" else (host,)
        # sudo: the collector watches every project's environments
        # A rebuilt environment says "building" while its previous container still serves it: collected too
        # (_ops_collect skips one whose container is not up), so a rebuild leaves no hole in its charts.
        envs = self.sudo().search([("state", "in", SERVING_STATES), ("container_id", "!=", False),
                                   ("host", "in", hosts)])
        now = time.time()
        failed = {}
        # sudo: as above (hosts are managers' records)
        record = self.env["ops.host"].sudo().search([("name", "=", host)], limit=1)
        swarm = record._ops_engine(timeout=30) if record.runtime_kind == "swarm" else None
        for env_id in envs.ids:
            try:
                with self.env.registry.cursor() as cr:
                    # not named ``env``: _() below would take this closed cursor's for its language
                    environment = self.sudo().with_env(self.env(cr=cr)).browse(env_id)  # sudo: as above
                    environment._ops_collect(now, swarm)
                    environment.env.flush_all()
            except Exception as exc:
                _logger.exception("ops monitoring: could not collect environment %s", env_id)
                failed[env_id] = "%s: %s" % (type(exc).__name__, exc)
        self._ops_collect_events(host, now)
        # Incidents of environments that stopped running (stopped, destroyed) end with them.
        # sudo: the platform resolves its own incidents, on every project
        for incident in self.env["ops.incident"].sudo().search([("state", "!=", "resolved"),
                                                                 ("environment_id.state", "not in", SERVING_STATES)]):
            incident._ops_resolve(self.env._("the environment is %s", incident.environment_id.state))
        return {"collected": len(envs) - len(failed), "failed": failed}

    def _ops_cgroup_of(self, swarm=None):
        """(container id, its first process or None, the host name of its
        node or None) whose cgroup holds the environment's server: its own
        container, or on a swarm host (``swarm``: its engine) the container
        of its unit's running task, whose cgroup is on the machine of the
        task's node."""
        if swarm is None:
            return self.container_id, None, None
        try:
            info = swarm.container(self.container_id)
        except runtime.RuntimeFailure:
            return None, None, None
        return (info or {}).get("task_container"), (info or {}).get("pid"), (info or {}).get("node")

    def _ops_reading(self, container, pid, node, swarm=None):
        """The figures of the environment's container: from its cgroup when
        it is on this machine (its first process says so), else, for a
        unit on another machine of a swarm (``swarm``: its engine, which
        keeps one connection per node for the collection), from that node's
        own engine (its endpoint on the node's record); None when neither
        has it."""
        reading = cgroup.read(container, pid=pid) if container else None
        if reading or not (container and node and swarm):
            return reading
        try:
            engine = swarm.node_engine(node)
            return engine.stats(container) if engine else None
        except Exception as exc:  # noqa: BLE001 - a node that does not answer leaves out only these figures
            _logger.warning("ops monitoring: node %s does not give %s's figures: %s", node, self.name, exc)
            return None

    def _ops_health_url(self):
        """Where the collector asks /web/health: the container's own address,
        or for a unit on a swarm host the socket nginx reaches it through."""
        if self.internal_url:
            return self.internal_url + "/web/health"
        return "unix:%s:/web/health" % self.upstream_socket if self.upstream_socket else None

    def _ops_collect(self, now, swarm=None):
        self.ensure_one()
        cgroup_id, pid, node = self._ops_cgroup_of(swarm)
        reading = self._ops_reading(cgroup_id, pid, node, swarm)
        if self.state != "running" and not reading:
            return  # a (re)build of an environment whose container is not up: nothing serves it
        State = self.env["ops.metric.state"]
        state = State.search([("environment_id", "=", self.id)], limit=1) or State.create(
            {"environment_id": self.id, "collecting_since": fields.Datetime.now()})
        settings = self.env["ops.run"]._ops_settings()
        filestore = None
        if self.database_name:
            filestore = paths.db_filestore({"filestore_root": settings["filestore_root"],
                                            "project_slug": self.project_id.slug, "environment_id": self.id},
                                           self.database_name, create_env_dir=False)
        rules = self._ops_alert_rules()
        on_line, matches = self._ops_log_matcher(rules)
        result = collector.collect(
            {"container_id": state.container_id, "read_at": state.read_at, "cpu_ns": state.cpu_ns,
             "processes": state.processes, "oom_kills": state.oom_kills, "log_cursor": state.log_cursor,
             "filestore_cache": state.filestore_cache},
            cgroup_id, self._ops_db_server(settings), self.database_name, filestore,
            self._ops_health_url(), self._ops_env_log(), now,
            on_line=on_line, container_pid=pid, reading=reading or False)  # False: read above, nothing found
        kept = result["state"]
        resources = dict(result["resources"], backup_age_h=self._ops_backup_age_h(), **self._ops_archive_figures())
        state.write(dict({key: kept.get(key) for key in ("container_id", "read_at", "cpu_ns", "processes", "oom_kills",
                                                        "log_cursor", "filestore_cache")},
                         **state._ops_totals_after(resources, result["requests"])))
        Sample = self.env["ops.metric.sample"]
        base = {"environment_id": self.id, "project_id": self.project_id.id}
        Sample._ops_upsert([dict(base, minute=_minute(now), **resources)],
                           [c for c in RESOURCE_COLUMNS if c in resources])
        Sample._ops_upsert([dict(base, minute=_minute(minute), **figures)
                            for minute, figures in result["requests"].items()], list(REQUEST_COLUMNS))
        self._ops_evaluate_alerts(rules, matches)
        state.write(self._ops_fleet_figures())

    def _ops_fleet_figures(self):
        """The latest figures and the last hour's series, for the fleet overview."""
        self.env.cr.execute("""
            SELECT minute, cpu_pct, mem_bytes, mem_limit_bytes, requests, req_5xx, p95_ms, health_ok
              FROM ops_metric_sample WHERE environment_id = %s AND minute > now() at time zone 'UTC' - interval '1 hour'
             ORDER BY minute""", [self.id])
        rows = self.env.cr.fetchall()

        def last(index):
            return next((row[index] for row in reversed(rows) if row[index] is not None), None)

        limit, used, requests = last(3), last(2), next((r for r in reversed(rows) if r[4]), None)
        return {"cpu_pct": last(1) or 0.0, "mem_pct": round(100.0 * used / limit, 1) if used and limit else 0.0,
                "error_pct": round(100.0 * (requests[5] or 0) / requests[4], 2) if requests else 0.0,
                "p95_ms": last(6) or 0.0, "health_ok": bool(last(7)), "collected_at": fields.Datetime.now(),
                "spark_cpu": [row[1] for row in rows if row[1] is not None][-60:],
                "spark_p95": [row[6] for row in rows if row[6] is not None][-60:]}

    def _ops_archive_figures(self):
        """The WAL archive of a production on production's cluster (the backup
        module's ops.pitr): seconds behind, and whether archiving fails."""
        if self.stage != "production" or self.db_cluster != "production" or "ops.pitr" not in self.env:
            return {"archive_lag_s": None, "archive_failing": None}
        return self.env["ops.pitr"]._ops_archive_figures()

    def _ops_backup_age_h(self):
        """Hours since this production's last good backup (None elsewhere or
        without the backup module)."""
        if self.stage != "production" or "ops.backup" not in self.env:
            return None
        last = self.env["ops.backup"].search([("environment_id", "=", self.id), ("state", "=", "done")],
                                             order="create_date desc", limit=1)
        return round((fields.Datetime.now() - last.create_date).total_seconds() / 3600, 2) if last else None

    @api.model
    def _ops_collect_events(self, host, now):
        """Docker's die, oom and restart events of this platform's
        environments since the last collection."""
        key = "ipai_ops_monitoring.events_since.%s" % host
        params = self.env["ir.config_parameter"].sudo()  # sudo: the collector's own bookmark
        since = float(params.get_param(key) or now - 60)
        plane = naming.namespace_for(self.env.cr.dbname)
        try:
            events = self.env["ops.host"]._ops_engine_of(host, timeout=30).events(
                since, now, ("die", "oom", "restart"), {"ipai-ops.plane": plane})
        except Exception:
            _logger.exception("ops monitoring: could not read Docker events of %s", host)
            return
        rows = []
        for event in events:
            attributes = event["labels"]
            env_id = attributes.get("ipai-ops.environment")
            if not (env_id or "").isdigit() or event["action"] not in ("die", "oom", "restart"):
                continue
            env = self.sudo().browse(int(env_id)).exists()  # sudo: an event of any project's container
            if not env:
                continue
            exit_code = attributes.get("exitCode")
            rows.append({"environment_id": env.id, "project_id": env.project_id.id, "action": event["action"],
                         "at": datetime.fromtimestamp(event["time"] or now, timezone.utc).replace(tzinfo=None),
                         "container_id": event["container"],
                         "exit_code": int(exit_code) if (exit_code or "").isdigit() else False})
        self.env["ops.container.event"].sudo().create(rows)  # sudo: written by the collector only
        params.set_param(key, str(int(now)))

    @api.model
    def _cron_roll_up_metrics(self):
        """Hourly rollups of the complete hours, then retention: minutes
        older than 14 days, hours older than 13 months."""
        now = fields.Datetime.now()
        self.env["ops.metric.rollup"]._ops_roll_up(now)
        self.env.cr.execute("DELETE FROM ops_metric_sample WHERE minute < %s", [now - timedelta(days=SAMPLE_DAYS)])
        samples = self.env.cr.rowcount
        self.env.cr.execute("DELETE FROM ops_metric_rollup WHERE hour < %s", [now - timedelta(days=ROLLUP_DAYS)])
        return {"samples_deleted": samples, "rollups_deleted": self.env.cr.rowcount}

    # -- reading -------------------------------------------------------------

    def metrics(self, since="1h", until=None, step=None, markers=False):
        """The environment's series: {"step": "minute"|"hour", "columns":
        [...], "points": [[time, values...], ...], "collecting_since"}.
        ``since``/``until`` as for logs (10m, 24h, 7d, a UTC date and time);
        ``step`` minute or hour (default: minute up to two days, else hour);
        A value not measured in a period is false. ``markers``: also the runs (deploys, builds, restores, backups,
        rollbacks), container events and incidents of the range, {time, kind, label}."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "monitoring")
        start, end = time_arg(self.env, "since", since), time_arg(self.env, "until", until) if until else time.time()
        if start >= end:
            raise ValidationError(_("since must be before until."))
        if step not in (None, False, "minute", "hour"):
            raise ValidationError(_("step is minute or hour, not %r.", step))
        step = step or ("minute" if end - start <= 2 * 86400 else "hour")
        table, column = ("ops_metric_sample", "minute") if step == "minute" else ("ops_metric_rollup", "hour")
        names = [c for c in SERIES if step == "minute" or c in dict(ROLLUP)]
        # Names come from the constants above, never from the caller.
        self.env.cr.execute(SQL("SELECT %s, %s FROM %s WHERE environment_id = %s AND %s BETWEEN %s AND %s ORDER BY %s",
                                SQL.identifier(column), SQL(", ").join(map(SQL.identifier, names)),
                                SQL.identifier(table), self.id, SQL.identifier(column), _utc(start), _utc(end),
                                SQL.identifier(column)))
        # false: not measured that minute (XML-RPC has no None)
        points = [[fields.Datetime.to_string(row[0]), *[False if value is None else value for value in row[1:]]]
                  for row in self.env.cr.fetchall()]
        # sudo: the collector's bookkeeping, read for this environment the caller may monitor
        state = self.env["ops.metric.state"].sudo().search([("environment_id", "=", self.id)], limit=1)
        answer = {"step": step, "columns": ["time", *names], "points": points,
                  "collecting_since": fields.Datetime.to_string(state.collecting_since) if state else False}
        if markers:
            answer["markers"] = self._ops_markers(_utc(start), _utc(end))
        return answer

    def _ops_markers(self, start, end):
        """What happened to the environment in [start, end], for the charts."""
        runs = self.env["ops.run"].search([
            ("environment_id", "=", self.id), ("kind", "in", ("deploy", "build", "restore", "backup", "rollback")),
            ("finished_at", ">=", start), ("finished_at", "<=", end)], order="finished_at", limit=200)
        found = [{"time": fields.Datetime.to_string(run.finished_at), "kind": run.kind,
                  "label": "%s %s (%s)" % (run.kind, run.display_name, run.state)} for run in runs]
        events = self.env["ops.container.event"].search([
            ("environment_id", "=", self.id), ("at", ">=", start), ("at", "<=", end)], order="at", limit=200)
        found += [dict(_event_marker(event), time=fields.Datetime.to_string(event.at)) for event in events]
        incidents = self.env["ops.incident"].search([
            ("environment_id", "=", self.id), ("opened_at", ">=", start), ("opened_at", "<=", end)],
            order="opened_at", limit=200)
        found += [{"time": fields.Datetime.to_string(incident.opened_at), "kind": "incident",
                   "label": "incident: %s (%s)" % (incident.rule_id.name, incident.state)} for incident in incidents]
        return sorted(found, key=lambda marker: marker["time"])

    @api.model
    def metrics_branch(self, project, branch, since="1h", until=None, step=None):
        """``ops env metrics PROJECT BRANCH``."""
        return self._ops_branch_environment(project, branch).metrics(since=since, until=until, step=step)


def _event_marker(event):
    """A container event in plain words: a container that exits 0 was
    stopped (replaced by a deploy, stopped by hand), not an alarm."""
    if event.action == "die" and not event.exit_code:
        return {"kind": "stop", "label": "container stopped normally (replaced or stopped, exit code 0)"}
    if event.action == "die":
        return {"kind": "die", "label": "container died (exit code %d)" % event.exit_code}
    return {"kind": event.action, "label": {"oom": "container ran out of memory (a process was killed)",
                                            "restart": "container restarted by its restart policy"}.get(
        event.action, "container %s" % event.action)}


def _utc(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)

import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

# What a metric rule may watch: a column of ops.metric.sample or a figure derived from one minute's sample.
METRICS = [
    ("health_down", "Health probe failing (1 = failed)"),
    ("error_share", "5xx share of requests"),
    ("p95_ms", "p95 response time (ms)"),
    ("cpu_pct", "CPU (% of one core)"),
    ("mem_share", "Memory used / limit"),
    ("oom_kills", "OOM kills in the minute"),
    ("disk_used_pct", "Disk holding databases and filestores, % used"),
    ("backup_age_h", "Age of the last good production backup (h)"),
    ("archive_lag_s", "WAL archive lag of production's cluster (s)"),
    ("archive_failing", "WAL archiving of production's cluster fails (1)"),
    ("db_connections", "Database connections"),
    ("longest_xact_s", "Longest transaction (s)"),
    ("lock_waits", "Sessions waiting on a lock"),
]
COMPARISONS = [(">", ">"), (">=", "≥"), ("<", "<"), ("<=", "≤")]
MAX_PATTERN = 500


class OpsAlertRule(models.Model):
    """When to open an incident: a metric beyond a threshold for a number
    of consecutive minutes, or a regular expression matching a line of the
    environment's Odoo log. Global (no project; Ops managers) or per project
    (its admins); optionally for one stage only."""

    _name = "ops.alert.rule"
    _description = "Ops alert rule"
    _order = "project_id, name"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    project_id = fields.Many2one("ops.project", ondelete="cascade", index=True,
                                 help="Empty: every project (Ops managers only).")
    stage = fields.Selection([("development", "Development"), ("staging", "Staging"), ("production", "Production")],
                             help="Empty: every stage.")
    kind = fields.Selection([("metric", "Metric threshold"), ("log", "Log pattern"), ("run", "Run failed"),
                             ("regression", "Deploy regression")],
                            required=True, default="metric")
    run_kind = fields.Selection([("drill", "Restore drill"), ("backup", "Backup"), ("deploy", "Deploy"),
                                 ("build", "Build")], "Run kind",
                                help="Run failed: open while the last run of this kind failed, resolve when one "
                                     "succeeds.")
    metric = fields.Selection(METRICS)
    comparison = fields.Selection(COMPARISONS, default=">")
    threshold = fields.Float()
    for_minutes = fields.Integer("For (minutes)", default=1,
                                 help="Metric: consecutive minutes the condition holds. Log: minutes without a "
                                      "matching line before the incident resolves itself.")
    pattern = fields.Char(help="Log: a regular expression searched in each line of the environment's Odoo log.")
    severity = fields.Selection([("info", "Info"), ("warning", "Warning"), ("critical", "Critical")], required=True,
                                default="warning")
    repeat_minutes = fields.Integer("Repeat every (minutes)", default=0,
                                    help="Notify again while the incident stays open (0: only on open and resolve).")
    incident_ids = fields.One2many("ops.incident", "rule_id", "Incidents")

    @api.constrains("kind", "metric", "pattern", "for_minutes", "repeat_minutes", "threshold", "run_kind")
    def _check_definition(self):
        for rule in self:
            if rule.for_minutes < 1 or rule.for_minutes > 1440:
                raise ValidationError(_("%s: 'for' is 1 to 1440 minutes.", rule.name))
            if rule.repeat_minutes < 0:
                raise ValidationError(_("%s: the repeat interval cannot be negative.", rule.name))
            if rule.kind == "metric" and not (rule.metric and rule.comparison):
                raise ValidationError(_("%s: a metric rule needs a metric and a comparison.", rule.name))
            if rule.kind == "run" and not rule.run_kind:
                raise ValidationError(_("%s: a run rule needs the kind of run it watches.", rule.name))
            if rule.kind == "log":
                if not rule.pattern or len(rule.pattern) > MAX_PATTERN:
                    raise ValidationError(_("%(rule)s: a log rule needs a pattern of at most %(max)d characters.",
                                            rule=rule.name, max=MAX_PATTERN))
                try:
                    re.compile(rule.pattern)
                except re.error as exc:
                    raise ValidationError(_("%(rule)s: %(pattern)r is not a valid regular expression: %(error)s",
                                            rule=rule.name, pattern=rule.pattern, error=exc)) from exc

    def _ops_applies_to(self, env):
        self.ensure_one()
        same_project = not self.project_id or self.project_id == env.project_id
        return same_project and (not self.stage or self.stage == env.stage)

    def _ops_holds(self, value):
        """Whether a metric value meets the rule's condition (None: not measured, never)."""
        if value is None or value is False:
            return False
        return {">": value > self.threshold, ">=": value >= self.threshold, "<": value < self.threshold,
                "<=": value <= self.threshold}[self.comparison]

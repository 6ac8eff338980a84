import logging
from datetime import timedelta, timezone

from odoo import _, api, fields, models
from odoo.tools import html_escape

from ..services import regression

_logger = logging.getLogger(__name__)
DEFAULT_WINDOW = 60  # minutes before and after a deploy (ipai_ops_monitoring.regression_window_minutes)
PAGE = 5000


class OpsDeployReport(models.Model):
    """The hour after a production deploy (or promotion) against the hour
    before, per route (services/regression.py), posted on the run and the
    environment's chatter; a route markedly worse opens an incident of the
    shipped 'deploy regression' rule, which the next report without one
    resolves."""

    _name = "ops.deploy.report"
    _description = "Ops deploy regression report"
    _order = "id desc"

    run_id = fields.Many2one("ops.run", required=True, ondelete="cascade", index=True, readonly=True)
    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", readonly=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    window_minutes = fields.Integer("Window (minutes)", readonly=True)
    requests_before = fields.Integer("Requests before", readonly=True)
    requests_after = fields.Integer("Requests after", readonly=True)
    worse_routes = fields.Text("Worse routes", readonly=True)
    routes = fields.Json(readonly=True)

    _sql_constraints = [("run_uniq", "unique(run_id)", "One report per deploy.")]

    @api.model
    def _cron_reports(self):
        """Report every production deploy whose window after has passed (in the last two days)."""
        # sudo: a system parameter
        window = self.env["ir.config_parameter"].sudo()._ops_int("ipai_ops_monitoring.regression_window_minutes",
                                                                 DEFAULT_WINDOW)
        now = fields.Datetime.now()
        # sudo: the platform reports on every project's deploys
        runs = self.env["ops.run"].sudo().search([
            ("kind", "=", "deploy"), ("state", "=", "succeeded"), ("environment_id.stage", "=", "production"),
            ("finished_at", "<=", now - timedelta(minutes=window)), ("finished_at", ">=", now - timedelta(days=2))],
            order="finished_at")
        # sudo: which deploys already have their report, whoever may read it
        done = set(self.sudo().search([("run_id", "in", runs.ids)]).run_id.ids)
        reports = self
        for run in runs.filtered(lambda r: r.id not in done):
            reports |= self._ops_report(run, window)
        return reports.ids

    def _ops_lines(self, env, since, until):
        store = env._ops_env_log()
        store.sync(blocking=False)
        lines, cursor = [], "0:0"
        while True:
            page = store.read(after=cursor, since=since, until=until, grep="werkzeug:", limit=PAGE)
            lines += [line["text"] for line in page["lines"]]
            if len(page["lines"]) < PAGE:
                return lines
            cursor = page["cursor"]

    def _ops_report(self, run, window):
        env = run.environment_id.sudo()  # sudo: the cron reports for the platform, on any project
        at = run.finished_at.replace(tzinfo=timezone.utc).timestamp()  # Odoo's datetimes are naive UTC
        before = self._ops_lines(env, int(at - window * 60), int(at) - 1)
        after = self._ops_lines(env, int(at), int(at + window * 60))
        result = regression.compare(before, after)
        # sudo: reports are written by this cron only; users have no create right
        report = self.sudo().create({
            "run_id": run.id, "environment_id": env.id, "window_minutes": window,
            "requests_before": len(before), "requests_after": len(after),
            "worse_routes": "\n".join("%s: %s" % (row["route"], ", ".join(row["worse"]))
                                      for row in result["routes"] if row["worse"]) or False,
            "routes": result["routes"][:50]})
        summary = _("Deploy report for %(run)s: %(n)d routes compared over %(w)d minutes before and after "
                    "(%(b)d and %(a)d requests); %(worse)s.", run=run.display_name, n=len(result["routes"]),
                    w=window, b=len(before), a=len(after),
                    worse=_("markedly worse: %s", ", ".join(result["worse"])) if result["worse"]
                    else _("no route markedly worse"))
        run._event("info", summary, {"deploy_report": report.id, "worse": result["worse"]})
        env.message_post(body=report._ops_html(summary, result), message_type="comment",
                         subtype_xmlid="mail.mt_note")
        rule = self.env.ref("ipai_ops_monitoring.rule_deploy_regression", raise_if_not_found=False)
        if rule and rule.active:
            # sudo: the platform's incidents of this environment, opened and resolved by the platform
            incident = self.env["ops.incident"].sudo().search([("rule_id", "=", rule.id),
                                                                ("environment_id", "=", env.id),
                                                                ("state", "!=", "resolved")], limit=1)
            if result["worse"] and not incident:
                env._ops_open_incident(rule, report.worse_routes)
            elif incident and not result["worse"]:
                incident._ops_resolve(_("the report of %s finds no route markedly worse", run.display_name))
        return report

    def _ops_html(self, summary, result):
        rows = "".join(
            "<tr><td>%s</td><td>%d → %d</td><td>%.0f → %.0f</td><td>%.1f → %.1f</td><td>%.0f%% → %.0f%%</td>"
            "<td>%.1f → %.1f</td><td>%s</td></tr>" % (
                html_escape(row["route"]), row["before"]["count"], row["after"]["count"], row["before"]["p95_ms"],
                row["after"]["p95_ms"], row["before"]["queries_per_request"], row["after"]["queries_per_request"],
                100 * row["before"]["sql_share"], 100 * row["after"]["sql_share"], row["before"]["error_pct"],
                row["after"]["error_pct"], html_escape(", ".join(row["worse"])))
            for row in result["routes"][:20])
        table = ("<table class='table table-sm'><tr><th>route</th><th>requests</th><th>p95 ms</th>"
                 "<th>queries/request</th><th>SQL share</th><th>5xx %%</th><th>worse</th></tr>%s</table>" % rows
                 if rows else "")
        return "<p>%s</p>%s" % (html_escape(summary), table)

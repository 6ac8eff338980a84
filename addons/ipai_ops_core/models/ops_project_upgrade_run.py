"""The upgrade of production itself: queued after a successful preview of
the same code, approved by a project admin, executed by executors/upgrade.py;
the project's Odoo version moves on when it succeeds."""

from datetime import timedelta

from markupsafe import Markup, escape
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services import git_repo


class OpsProject(models.Model):
    _inherit = "ops.project"

    upgrade_preview_id = fields.Many2one("ops.run", "Last preview", compute="_compute_upgrade_preview")
    upgrade_preview_env_id = fields.Many2one("ops.environment", "Preview environment",
                                             compute="_compute_upgrade_preview")
    upgrade_preview_url = fields.Char("Preview URL", compute="_compute_upgrade_preview")
    upgrade_preview_html = fields.Html("Preview report", compute="_compute_upgrade_preview", sanitize=True)
    upgrade_run_id = fields.Many2one("ops.run", "Last upgrade", compute="_compute_upgrade_preview")

    @api.depends("upgrade_target")
    def _compute_upgrade_preview(self):
        for project in self:
            target = project.upgrade_target
            preview = project._ops_last_upgrade_run("upgrade_preview", target) if target and project.id \
                else self.env["ops.run"]
            project.upgrade_preview_id = preview
            project.upgrade_preview_env_id = preview.environment_id if preview.environment_id.state != "destroyed" \
                else False
            project.upgrade_preview_url = project.upgrade_preview_env_id.url or False
            project.upgrade_preview_html = _report_html(preview.upgrade_report) if preview.upgrade_report else False
            project.upgrade_run_id = project._ops_last_upgrade_run("upgrade") if project.id else False

    def _ops_preview_fits(self, to_version):
        """The last preview for ``to_version`` when production may be upgraded
        on its strength (succeeded, recent, same code as the branches hold
        now); UserError saying what is missing otherwise."""
        self.ensure_one()
        preview = self._ops_last_upgrade_run("upgrade_preview", to_version)
        if not preview or preview.state != "succeeded":
            raise UserError(_("Production is upgraded only after a successful preview of Odoo %(version)s "
                              "(Upgrade tab, ops upgrade preview %(project)s).", version=to_version,
                              project=self.slug))
        # sudo: configuration parameters are readable by system users only
        max_age = self.env["ir.config_parameter"].sudo()._ops_int("ipai_ops.upgrade_preview_max_age_hours", 168, 1)
        if preview.finished_at < fields.Datetime.now() - timedelta(hours=max_age):
            raise UserError(_("The last preview (run %(run)s) is older than %(hours)d hours "
                              "(ipai_ops.upgrade_preview_max_age_hours): preview again.",
                              run=preview.display_name, hours=max_age))
        steps = (preview.upgrade_report or {}).get("steps") or []
        try:
            heads = git_repo.list_branches(self.repo_url, self.env["ops.run"]._ops_settings()["git_cache"])
        except (git_repo.GitError, ValueError) as exc:
            raise UserError(str(exc)) from exc
        for step in steps:
            if heads.get(step["ref"]) != step["commit_sha"]:
                raise UserError(_("%(ref)s moved since the preview (it ran %(sha)s): preview this code first.",
                                  ref=step["ref"], sha=step["commit_sha"][:12]))
        return preview

    def upgrade_production(self, to_version=False):
        """Queue the upgrade of production to ``to_version``: only after a
        successful preview of the same code within the configured age; it
        waits for a project admin's approval, backs production up, migrates
        a copy, switches when healthy and rolls back otherwise."""
        self.ensure_one()
        production = self._ops_production()
        self._ops_check_action("production", "deploy")
        to_version = self._ops_upgrade_target(to_version)
        if not production.database_name or production.state != "running":
            raise UserError(_("%s has no running production to upgrade.", self.slug))
        preview = self._ops_preview_fits(to_version)
        run = self.env["ops.run"]._ops_queue({
            "project_id": self.id, "environment_id": production.id, "kind": "upgrade", "max_attempts": 1,
            "config": {"upgrade_to": to_version, "preview_run_id": preview.id}}, trusted=True)
        # sudo: upgrade_to is written by the platform only (PROTECTED_FIELDS); the checks are above
        self.env["ops.run"].sudo().browse(run["id"]).upgrade_to = to_version
        return run

    def action_upgrade_production(self):
        run = self.upgrade_production()
        return self.env["ops.run"].browse(run["id"]).get_formview_action()


def _report_html(report):
    """A preview's report as the Upgrade tab shows it: row counts, the
    predicted downtime, and per step the modules by time with their scripts."""
    after = report.get("rows_after") or {}
    rows = "".join(Markup("<tr><td>%s</td><td>%s / %s</td><td>%s / %s</td></tr>") % (
        label, before.get("own"), before.get("total"), (after.get(label) or {}).get("own", "-"),
        (after.get(label) or {}).get("total", "-"))
        for label, before in sorted((report.get("rows_before") or {}).items()))
    parts = [Markup("<p>Odoo %s to %s: migration %ss, predicted production downtime <strong>%ss</strong>, "
                    "database %s MB.</p>") % (report.get("from_version"), report.get("to_version"),
                                              report.get("migration_seconds"),
                                              report.get("predicted_downtime_seconds"),
                                              round((report.get("db_bytes") or 0) / 1e6, 1)),
             Markup("<table class='table table-sm w-auto'><tr><th>rows (made by people / all)</th><th>before</th>"
                    "<th>after</th></tr>%s</table>") % rows]
    for step in report.get("steps") or []:
        modules = sorted(step.get("modules") or [], key=lambda m: -(m.get("seconds") or 0))
        lines = "".join(Markup("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>") % (
            m["module"], m.get("seconds") if m.get("seconds") is not None else "-",
            ", ".join(m.get("scripts") or []) or "-", m.get("warnings", 0), len(m.get("errors") or []))
            for m in modules)
        parts.append(Markup("<h5>Odoo %s to %s (%s, %ss)</h5><table class='table table-sm'><tr><th>module</th>"
                            "<th>seconds</th><th>migration scripts</th><th>warnings</th><th>errors</th></tr>%s"
                            "</table>") % (step["from"], step["to"], escape(step.get("scripts_wheel") or ""),
                                           step.get("seconds"), lines))
    return Markup("").join(parts)

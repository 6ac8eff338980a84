"""The upgrade advisor on a project: the version to go to, the scan of the
project's code for it (a run of kind upgrade_scan) and its report."""


from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..services import odoo_versions, upgrade_report
from .ops_upgrade_advisory import SEVERITY_RANK

REPORT_FINDINGS = 500
UPGRADE_KINDS = ("upgrade_scan", "upgrade_preview", "upgrade")


class OpsProject(models.Model):
    _inherit = "ops.project"

    upgrade_target = fields.Selection(
        odoo_versions.SELECTION, "Upgrade to", compute="_compute_upgrade_target", store=True, readonly=False,
        help="The Odoo version the upgrade advisor prepares the project for (the next one by default).")
    upgrade_scan_id = fields.Many2one("ops.run", "Last scan", compute="_compute_upgrade_scan")
    upgrade_finding_ids = fields.One2many("ops.upgrade.finding", compute="_compute_upgrade_scan",
                                          string="Findings of the last scan")
    upgrade_breaking_count = fields.Integer("Breaking", compute="_compute_upgrade_scan")
    upgrade_warning_count = fields.Integer("Warnings", compute="_compute_upgrade_scan")
    upgrade_autofix_count = fields.Integer("Fixed automatically", compute="_compute_upgrade_scan")
    upgrade_blocking = fields.Text("Blocking dependencies", compute="_compute_upgrade_scan")

    @api.depends("odoo_version")
    def _compute_upgrade_target(self):
        for project in self:
            project.upgrade_target = odoo_versions.next_version(project.odoo_version or "18.0") or False

    def _ops_last_upgrade_run(self, kind, to_version=None):
        """The project's newest run of ``kind`` (upgrade_scan, upgrade_preview,
        upgrade) for ``to_version`` (None: for any version)."""
        self.ensure_one()
        domain = [("project_id", "=", self.id), ("kind", "=", kind)]
        if to_version is not None:
            domain.append(("upgrade_to", "=", to_version))
        return self.env["ops.run"].search(domain, order="id desc", limit=1)

    @api.depends("upgrade_target")
    def _compute_upgrade_scan(self):
        for project in self:
            scan = project._ops_last_upgrade_run("upgrade_scan", project.upgrade_target) \
                if project.upgrade_target and project.id else self.env["ops.run"]
            findings = scan.finding_ids
            project.upgrade_scan_id = scan
            project.upgrade_finding_ids = findings
            project.upgrade_breaking_count = len(findings.filtered(lambda f: f.severity == "breaking"))
            project.upgrade_warning_count = len(findings.filtered(lambda f: f.severity == "warning"))
            project.upgrade_autofix_count = len(findings.filtered("autofix"))
            blocking = (scan.upgrade_report or {}).get("blocking") or []
            project.upgrade_blocking = "\n".join("%s: %s" % (b["module"], b["detail"]) for b in blocking) or False

    def _ops_upgrade_target(self, to_version):
        """The target version, checked: supported and ahead of the project's."""
        self.ensure_one()
        to_version = to_version or self.upgrade_target
        if not to_version:
            raise UserError(_("Project %(project)s is on the newest supported Odoo version (%(version)s): nothing to "
                              "upgrade to.", project=self.slug, version=self.odoo_version))
        try:
            odoo_versions.path(self.odoo_version, to_version)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        return to_version

    def _ops_upgrade_branch(self):
        """The branch whose code an upgrade is about: production's, else the default branch."""
        self.ensure_one()
        return self._ops_production().branch or self.default_branch

    def upgrade_scan(self, to_version=False, push_branch=False):
        """Queue a scan of the project's own addons for ``to_version`` (default:
        the project's upgrade target): advisories, Odoo's upgrade_code,
        odoo-module-migrator, dependencies, a patch; with ``push_branch`` the
        rewritten code is pushed as branch upgrade/<version> (never the
        project's own branches). Returns the run as queue_run does."""
        self.ensure_one()
        self._ops_check_action(None, "upgrade_scan")
        if not isinstance(push_branch, bool):
            raise ValidationError(_("push_branch must be true or false."))
        to_version = self._ops_upgrade_target(to_version)
        ref, sha, why = self._ops_scan_source()
        run = self.env["ops.run"]._ops_queue({
            "project_id": self.id, "kind": "upgrade_scan", "ref": ref, "commit_sha": sha, "max_attempts": 1,
            "config": {"upgrade_to": to_version, "push_branch": push_branch}}, trusted=True)
        # sudo: upgrade_to is written by the platform only (PROTECTED_FIELDS); the check is above
        record = self.env["ops.run"].sudo().browse(run["id"])
        record.upgrade_to = to_version
        record._event("info", _("The scan reads %s.", why), {"ref": ref, "commit_sha": sha})
        return run

    def _ops_scan_source(self):
        """What a scan reads, and why: the commit production runs (its last
        successful build, deploy or upgrade: after an upgrade, the upgrade
        branch's commit), else production's branch. (ref, sha or False, why)."""
        self.ensure_one()
        production = self._ops_production()
        last = production._ops_running_run() if production else False
        if last:
            ref = "upgrade/%s" % last.upgrade_to if last.kind == "upgrade" else last.ref or production.branch
            return ref, last.commit_sha, _("the commit production runs, %(sha)s of %(ref)s (run %(run)s)",
                                           sha=last.commit_sha[:12], ref=ref, run=last.display_name)
        branch = self._ops_upgrade_branch()
        return branch, False, _("the branch %s: production has run no build yet", branch)

    @api.model
    def _ops_is_upgrade_branch(self, branch):
        """Whether ``branch`` is one the upgrade advisor pushes (upgrade/<version>)."""
        return branch in {"upgrade/%s" % version for version in odoo_versions.VERSIONS}

    def _ops_production(self):
        self.ensure_one()
        return self.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")[:1]

    def upgrade_preview(self, to_version=False):
        """Queue an upgrade preview: a neutralized copy of production migrated
        to ``to_version`` with OpenUpgrade (one major version at a time,
        chained), started as an environment of its own. Needs a scan of the
        code for that version without blocking dependencies. Project admins."""
        self.ensure_one()
        self._ops_check_action(None, "upgrade_preview")
        to_version = self._ops_upgrade_target(to_version)
        scan = self._ops_last_upgrade_run("upgrade_scan", to_version)
        if not scan or scan.state != "succeeded":
            raise UserError(_("Scan the code for Odoo %(version)s first (Upgrade tab, ops upgrade scan %(project)s "
                              "--to %(version)s): the preview needs to know it can migrate.",
                              version=to_version, project=self.slug))
        blocking = (scan.upgrade_report or {}).get("blocking") or []
        if blocking:
            raise UserError(_("These dependencies have no Odoo %(version)s version, so nothing is copied: "
                              "%(modules)s. Port or replace them, then scan again.", version=to_version,
                              modules="; ".join("%s (needed by %s): %s" % (
                                  b["module"], ", ".join(b["addons"]), b["detail"]) for b in blocking)))
        production = self._ops_production()
        if not production.database_name or production.state != "running":
            raise UserError(_("An upgrade preview copies production: %s has no running production.", self.slug))
        branch = "upgrade/%s" % to_version
        # sudo: the preview environment is the platform's; the admin check is above
        Env = self.env["ops.environment"].sudo()
        env = Env.search([("project_id", "=", self.id), ("branch", "=", branch), ("state", "!=", "destroyed")],
                         limit=1)
        if not env:
            env = Env.create({"project_id": self.id, "branch": branch, "stage": "staging"})
        env.upgrade_to = to_version
        run = self.env["ops.run"]._ops_queue({
            "project_id": self.id, "environment_id": env.id, "kind": "upgrade_preview", "max_attempts": 1,
            "config": {"upgrade_to": to_version}}, trusted=True)
        # sudo: upgrade_to is written by the platform only (PROTECTED_FIELDS); the check is above
        record = self.env["ops.run"].sudo().browse(run["id"])
        record.upgrade_to = to_version
        # Said up front: the installed modules no OpenUpgrade script migrates (the scan read the scripts package).
        uncovered = ["%s (%s)" % (", ".join(seen["not_covered"]), to) for to, seen in sorted(
            ((scan.upgrade_report or {}).get("coverage_summary") or {}).items()) if seen.get("not_covered")]
        if uncovered:
            note = _("Not covered by OpenUpgrade: %s. The preview migrates the rest; check these modules' data "
                     "on it.", "; ".join(uncovered))
            record._event("warning", note, {"not_covered": uncovered})
            run = dict(run, warnings=[note])
        return run

    def action_upgrade_preview(self):
        run = self.upgrade_preview()
        return self.env["ops.run"].browse(run["id"]).get_formview_action()

    def action_upgrade_scan(self):
        """The Scan button: queue a scan for the upgrade target and open its run."""
        run = self.upgrade_scan()
        return self.env["ops.run"].browse(run["id"]).get_formview_action()

    def action_upgrade_scan_push(self):
        """Scan, and push the automatic rewrites as branch upgrade/<version>."""
        run = self.upgrade_scan(push_branch=True)
        return self.env["ops.run"].browse(run["id"]).get_formview_action()

    def action_view_upgrade_findings(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_core.ops_upgrade_finding_action")
        action["domain"] = [("run_id", "=", self.upgrade_scan_id.id)]
        action["context"] = {"search_default_group_addon": 1}
        return action

    def upgrade_report(self, to_version=False, limit=REPORT_FINDINGS, run=False):
        """The last scan, preview and upgrade for ``to_version`` (default: the
        upgrade target, or the version of the last upgrade once there is none
        ahead): their runs and reports, the scan's findings (most severe
        first). A finished upgrade's report stays readable: ``to_version``
        may be the version the project is on now. ``run``: the number of one
        upgrade run of the project, whose report comes whole under "run"."""
        self.ensure_one()
        self._ops_check_action(None, "history")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ValidationError(_("limit must be an integer between 1 and 10000."))
        asked = False
        if run is not False:
            if isinstance(run, bool) or not isinstance(run, int):
                raise ValidationError(_("run is the number of a run of the project, not %r.", run))
            asked = self.env["ops.run"].search([("project_id", "=", self.id), ("number", "=", run),
                                                ("kind", "in", UPGRADE_KINDS)], limit=1)
            if not asked:
                raise UserError(_("Project %(project)s has no scan, preview or upgrade run number %(run)s.",
                                  project=self.slug, run=run))
            to_version = asked.upgrade_to
        to_version = self._ops_report_target(to_version)
        scan = self._ops_last_upgrade_run("upgrade_scan", to_version)
        findings = scan.finding_ids.sorted(lambda f: (-f.severity_rank, f.addon or "", f.file or "", f.line))
        preview = self._ops_last_upgrade_run("upgrade_preview", to_version)
        upgrade = self._ops_last_upgrade_run("upgrade", to_version)
        behind = odoo_versions.VERSIONS.index(self.odoo_version) < odoo_versions.VERSIONS.index(to_version)
        done = (upgrade or preview).upgrade_report or {}
        return {
            "project": self.slug, "to_version": to_version,
            "from_version": self.odoo_version if behind else done.get("from_version") or self.odoo_version,
            "done": not behind,
            "preview": dict(_run_summary(preview), environment_id=preview.environment_id.id,
                            url=preview.environment_id.url or False) if preview else False,
            "upgrade": _run_summary(upgrade) if upgrade else False,
            "scan": dict(_run_summary(scan), commit_sha=scan.commit_sha, ref=scan.ref) if scan else False,
            "run": dict(_run_summary(asked), kind=asked.kind) if asked else False,
            "report": scan.upgrade_report or {},
            "counts": {sev: len(findings.filtered(lambda f, s=sev: f.severity == s)) for sev in SEVERITY_RANK},
            "findings": [{"addon": f.addon, "file": f.file, "line": f.line, "severity": f.severity,
                          "source": f.source, "autofix": f.autofix, "message": f.message, "snippet": f.snippet,
                          "advisory": f.advisory_id.code or False} for f in findings[:limit]],
        }

    def _ops_report_target(self, to_version):
        """The version a report is about: the one asked (any supported one:
        a finished upgrade's too), else the upgrade target, else the version
        of the project's last upgrade."""
        self.ensure_one()
        if to_version:
            try:
                return odoo_versions.check(to_version)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        last = self._ops_last_upgrade_run("upgrade")
        return self.upgrade_target or last.upgrade_to or self._ops_upgrade_target(False)


def _run_summary(run):
    return {"id": run.id, "number": run.number, "state": run.state, "result": run.result,
            "error": run.error_message or False, "report": run.upgrade_report or {},
            "lines": upgrade_report.run_lines(run.kind, run.number, run.state, run.error_message,
                                              run.upgrade_report) if run.kind != "upgrade_scan" else [],
            "finished_at": fields.Datetime.to_string(run.finished_at) if run.finished_at else False}

import os

from odoo import _, fields, models
from odoo.exceptions import UserError

from ..executors import upgrade_preview
from ..executors.base import RunFailed
from ..services import git_repo, naming, odoo_versions, postgres, upgrade_report


class OpsRun(models.Model):
    """The upgrade runs (scan, preview, upgrade): their specs (the methods
    their kinds name in executors/registry.py), what they report beyond
    their log (the Upgrade tab, the CLI and XML-RPC show it), and the
    project's version moving on after production's upgrade."""

    _inherit = "ops.run"

    upgrade_to = fields.Char("Target version", readonly=True, copy=False)
    upgrade_report = fields.Json(readonly=True, copy=False)
    finding_ids = fields.One2many("ops.upgrade.finding", "run_id", "Findings", readonly=True)
    upgrade_report_text = fields.Text("Upgrade report", compute="_compute_upgrade_report_text",
                                      help="Each step of the migration: its modules, time and warnings by module "
                                           "and meaning; the downtime predicted and measured.")

    def _compute_upgrade_report_text(self):
        for run in self:
            run.upgrade_report_text = "\n".join(upgrade_report.run_lines(
                run.kind, run.number, run.state, run.error_message, run.upgrade_report)) if (
                run.kind in ("upgrade_preview", "upgrade") and run.upgrade_report) else False

    def _ops_upgrade_scan_spec(self, host):
        """The plain values a scan needs: the code (repository, ref), the
        versions it goes through with their runtime images, the advisories
        of each step, where OpenUpgrade's wheels and the package index are."""
        self.ensure_one()
        # sudo: a worker's spec is made by the platform for a claimed run, never returned to users
        run, project = self.sudo(), self.sudo().project_id
        project._ops_check_repo_url()
        settings = self._ops_settings()
        config = run.config or {}
        to_version = config.get("upgrade_to") or run.upgrade_to
        # sudo: tools and advisories are configuration records; the spec only carries their values
        Tool, Advisory = self.env["ops.tool"].sudo(), self.env["ops.upgrade.advisory"].sudo()
        steps, previous = [], project.odoo_version
        for version in odoo_versions.path(project.odoo_version, to_version):
            tool = Tool._ops_for_version(version)
            if not tool:
                raise UserError(_("No runtime tool for Odoo %s (Configuration > Tools).", version))
            steps.append({"from": previous, "to": version, "image": tool.image, "tool": tool._ops_build_spec(),
                          "advisories": Advisory._ops_for_step(previous, version)})
            previous = version
        for path in (settings["work_root"], settings["git_cache"]):
            os.makedirs(path, exist_ok=True)
        # sudo: configuration parameters are readable by system users only
        param = self.env["ir.config_parameter"].sudo().get_param
        source_tool = Tool._ops_for_version(project.odoo_version)
        production = project._ops_production()
        host_record = self.env["ops.host"]._ops_named(host)
        host_url = host_record.docker_url or None
        return {
            "namespace": naming.namespace_for(self.env.cr.dbname), "run_id": run.id, "run_number": run.number,
            "kind": run.kind, "project_id": project.id, "project_slug": project.slug, "environment_id": 0,
            "branch": run.ref, "ref": run.ref, "commit_sha": run.commit_sha or None, "repo_url": project.repo_url,
            "git_cache": settings["git_cache"], "work_root": settings["work_root"], "host": host,
            "docker_url": host_url, "runtime_kind": host_record.runtime_kind or "docker",
            "from_version": project.odoo_version, "to_version": to_version, "steps": steps,
            "source_image": source_tool.image if source_tool else None,
            "source_tool": source_tool._ops_build_spec() if source_tool else {},
            "push_branch": bool(config.get("push_branch")), "upgrade_branch": "upgrade/%s" % to_version,
            "protected_branches": sorted(set(project.environment_ids.mapped("branch")) | {project.default_branch}),
            "artifact_dir": os.path.join(self.env["ops.run.artifact"]._artifact_root(), "upgrade"),
            "openupgrade_dir": self.env["ops.tool"]._ops_openupgrade_dir(),
            "package_index": param("ipai_ops.package_index_url") or "https://pypi.org/pypi",
            # what production has installed: the coverage is of those modules
            "db": production._ops_db_server(settings) if production else settings["db"],
            "production_database": production.database_name or None,
        }

    def _ops_upgrade_preview_spec(self, spec):
        """What a preview adds to an environment's spec: production's copy,
        the versions it goes through (image, code), OpenUpgrade's wheels."""
        # sudo: as in _executor_spec, made by the platform for a claimed run
        run, env, project = self.sudo(), self.sudo().environment_id, self.sudo().project_id
        config = run.config or {}
        to_version = config.get("upgrade_to") or run.upgrade_to
        spec.update(self._ops_staging_spec(env, spec, {}))
        # sudo: tools are configuration records; the spec only carries their values
        Tool = self.env["ops.tool"].sudo()
        production = project._ops_production()
        try:
            branches = set(git_repo.list_branches(project.repo_url, spec["git_cache"]))
        except (git_repo.GitError, ValueError) as exc:
            raise RunFailed(str(exc)) from exc
        steps, previous = [], project.odoo_version
        running_ref, running_sha, _why = project._ops_scan_source()
        for version in odoo_versions.path(project.odoo_version, to_version):
            tool = Tool._ops_for_version(version)
            if not tool:
                raise RunFailed("No runtime tool for Odoo %s (Configuration > Tools)." % version)
            step = {"from": previous, "to": version, "image": tool.image, "tool": tool._ops_build_spec()}
            if "upgrade/%s" % version in branches:  # the scan's branch for this version
                step["ref"] = "upgrade/%s" % version
            else:  # else the code production runs (after an upgrade: the upgrade branch's commit)
                step.update(ref=running_ref, commit_sha=running_sha or None)
            steps.append(step)
            previous = version
        spec.update({
            "upgrade_steps": steps, "openupgrade_dir": Tool._ops_openupgrade_dir(),
            "production_sizes": {"db_bytes": postgres.database_size(spec["db"], production.database_name)
                                 if production.database_name else None},
            # the environment runs the target's image: its own runtime values are the target's
            "tool_image": steps[-1]["image"], "tool": steps[-1]["tool"], "odoo_version": to_version,
        })
        return spec

    def _ops_upgrade_mode_spec(self, env):
        """A build of an upgrade preview (upgrade mode, executors/upgrade_mode.py):
        the target's image; the migrated copy it keeps is the environment's."""
        # sudo: tools are configuration records; the spec only carries their values
        tool = self.env["ops.tool"].sudo()._ops_for_version(env.upgrade_to)
        if not tool:
            raise RunFailed("No runtime tool for Odoo %s (Configuration > Tools)." % env.upgrade_to)
        return {"staging_mode": "upgrade", "staging_source": None, "tool_image": tool.image,
                "tool": tool._ops_build_spec(), "odoo_version": env.upgrade_to}

    def _ops_upgrade_spec(self, spec):
        """What the production upgrade adds: the preview's steps with the
        commits it ran, its predicted downtime rescaled to production now."""
        # sudo: as in _executor_spec, made by the platform for a claimed run (the preview is of its project,
        # queued by upgrade_production's checks)
        run = self.sudo()
        preview = self.env["ops.run"].sudo().browse((run.config or {}).get("preview_run_id") or 0).exists()
        report = preview.upgrade_report or {}
        if not preview or preview.project_id != run.project_id or preview.state != "succeeded" \
                or not report.get("steps"):
            raise RunFailed("The preview this upgrade was queued on is gone or did not succeed.")
        # sudo: tools are configuration records; the spec only carries their values
        Tool = self.env["ops.tool"].sudo()
        steps = []
        for step in report["steps"]:
            tool = Tool._ops_for_version(step["to"])
            steps.append({"from": step["from"], "to": step["to"], "image": tool.image, "tool": tool._ops_build_spec(),
                          "ref": step["ref"], "commit_sha": step["commit_sha"]})
        db_bytes = postgres.database_size(spec["db"], spec["current"]["database_name"])
        spec.update({
            "upgrade_steps": steps, "openupgrade_dir": Tool._ops_openupgrade_dir(),
            "predicted_downtime_seconds": upgrade_preview.predict_downtime(report, {"db_bytes": db_bytes}),
            "tool_image": steps[-1]["image"], "tool": steps[-1]["tool"], "odoo_version": steps[-1]["to"],
        })
        return spec

    def _ops_upgrade_state_changed(self, new_state):
        """A production upgrade succeeded: the project's version moves on
        (the upgrade kind's ``on_state``, executors/registry.py)."""
        if new_state == "succeeded":
            for run in self.filtered("upgrade_to"):
                # sudo: the project's version follows what production runs, written by the platform
                project = run.project_id.sudo()
                old = project.odoo_version
                project.odoo_version = run.upgrade_to
                last = ((run.upgrade_report or {}).get("steps") or [{}])[-1]
                project.message_post(body=_(
                    "Production upgraded from Odoo %(old)s to %(new)s (run %(run)s). It runs %(ref)s (%(sha)s): "
                    "merge it into %(branch)s; until then a deploy of %(branch)s is refused (its addons are "
                    "written for %(old)s).", old=old, new=run.upgrade_to, run=run.display_name,
                    ref=last.get("ref") or "-", sha=(last.get("commit_sha") or "-")[:12],
                    branch=run.environment_id.branch))

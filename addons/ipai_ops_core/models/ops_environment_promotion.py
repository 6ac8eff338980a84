from odoo import _, api, models
from odoo.exceptions import UserError

from .rpc_args import valid_records


class OpsEnvironment(models.Model):
    """Promotion of a staging build to production, and production's
    rollback (the backend's buttons, XML-RPC and ``ops env promote |
    rollback``)."""

    _inherit = "ops.environment"

    def _last_good_build(self):
        self.ensure_one()
        # sudo: the last good build of an environment the caller promotes (checked by promote)
        return self.env["ops.run"].sudo().search([
            ("environment_id", "=", self.id), ("kind", "in", ("build", "deploy")), ("state", "=", "succeeded"),
            ("commit_sha", "!=", False)], limit=1)

    def promote(self):
        """Deploy the exact image this staging environment runs to the
        project's production (never a rebuild). Waits for an admin's approval
        when the project asks for it. Returns the deploy run as a dict."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        project = self.project_id
        if self.stage != "staging":
            raise UserError(_("Only a staging environment is promoted to production (%(env)s is %(stage)s).",
                              env=self.name, stage=self.stage))
        project._ops_check_action("production", "deploy")
        build = self._last_good_build()
        if self.state != "running" or not self.image_digest or not build:
            raise UserError(_("%s has no healthy build to promote.", self.name))
        production = project.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")
        if not production:
            raise UserError(_("Project %(project)s has no production environment yet: deploy its %(branch)s branch "
                              "first.", project=project.slug, branch=project.default_branch))
        return self.env["ops.run"]._ops_queue({
            "project_id": project.id, "environment_id": production.id, "kind": "deploy", "commit_sha": build.commit_sha,
            "ref": production.branch, "config": {"promote_environment_id": self.id, "image_digest": self.image_digest,
                                                 "promoted_from": self.name},
        }, trusted=True)

    def rollback(self):
        """Queue a rollback of this production environment to its previous
        image and pre-deploy database."""
        valid_records(self, "Environment").ensure_one()
        if self.stage != "production":
            raise UserError(_("Only production is rolled back; rebuild other environments instead."))
        if not self.previous_image_digest or not self.previous_database_name:
            raise UserError(_("%s has no previous deploy to roll back to.", self.name))
        return self.env["ops.run"].queue_run({"project_id": self.project_id.id, "environment_id": self.id,
                                              "kind": "rollback"})

    @api.model
    def promote_branch(self, project, branch):
        """``ops env promote PROJECT BRANCH``: promote that staging branch."""
        project, env = self._ops_by_branch(project, branch)
        if not env or env.state == "new":
            raise UserError(_("No staging environment for branch %(branch)s in project %(project)s.", branch=branch,
                              project=project.slug))
        return env.promote()

    @api.model
    def rollback_project(self, project):
        """``ops env rollback PROJECT``: roll its production back."""
        project = self.env["ops.run"]._resolve_project(project)
        production = project.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")
        if not production:
            raise UserError(_("Project %s has no production environment.", project.slug))
        return production.rollback()

    def action_promote(self):
        run = self.promote()
        return self._open_run(self.env["ops.run"].browse(run["id"]))

    def action_rollback(self):
        run = self.rollback()
        return self._open_run(self.env["ops.run"].browse(run["id"]))

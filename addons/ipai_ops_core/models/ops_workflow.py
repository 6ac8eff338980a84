from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..services import naming
from ..services.jsonutil import json_text, parse_json_text
from .ops_project import SETTINGS_RANK
from .ops_run import WORKFLOW_KINDS


class OpsWorkflow(models.Model):
    """A configured kind of run for a project (build, test, deploy, ...)."""

    _name = "ops.workflow"
    _description = "Ops workflow"
    _order = "project_id, kind, id"

    name = fields.Char(required=True)
    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(WORKFLOW_KINDS, required=True, default="build")
    configuration = fields.Json()
    configuration_text = fields.Text(
        "Configuration (JSON)", compute="_compute_configuration_text", inverse="_inverse_configuration_text"
    )
    active = fields.Boolean(default=True)
    git_ref = fields.Char("Git ref", help="Branch, tag or commit this workflow follows (empty: any).")

    @api.constrains("git_ref")
    def _check_git_ref(self):
        for workflow in self.filtered("git_ref"):
            try:
                naming.validate_ref(workflow.git_ref)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    def _compute_configuration_text(self):
        for workflow in self:
            workflow.configuration_text = json_text(workflow.configuration)

    def _inverse_configuration_text(self):
        for workflow in self:
            try:
                workflow.configuration = parse_json_text(workflow.configuration_text)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    @api.model_create_multi
    def create(self, vals_list):
        workflows = super().create(vals_list)
        workflows._check_can_manage()
        return workflows

    def write(self, vals):
        self._check_can_manage()
        return super().write(vals)

    def unlink(self):
        self._check_can_manage()
        return super().unlink()

    def _check_can_manage(self):
        if self.env.su:
            return
        for project in self.project_id:
            project._ops_check_rank(SETTINGS_RANK, _("change the workflows of project %s", project.name))

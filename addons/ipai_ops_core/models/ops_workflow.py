from odoo import api, fields, models

from ..services import naming
from ..services.jsonutil import json_text, parse_json_text
from .ops_project import validated
from .ops_run import WORKFLOW_KINDS


class OpsWorkflow(models.Model):
    """A configured kind of run for a project (build, test, deploy, ...)."""

    _name = "ops.workflow"
    _inherit = ["ops.project.settings.mixin"]
    _description = "Ops workflow"
    _ops_settings_label = "workflows"
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
            validated(naming.validate_ref, workflow.git_ref)

    def _compute_configuration_text(self):
        for workflow in self:
            workflow.configuration_text = json_text(workflow.configuration)

    def _inverse_configuration_text(self):
        for workflow in self:
            workflow.configuration = validated(parse_json_text, workflow.configuration_text)

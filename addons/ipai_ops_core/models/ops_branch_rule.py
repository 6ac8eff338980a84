from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .ops_project import STAGES


class OpsBranchRule(models.Model):
    """Maps branch name patterns (fnmatch, first match wins) to a stage."""

    _name = "ops.branch.rule"
    _inherit = ["ops.project.settings.mixin"]
    _description = "Ops branch-to-stage rule"
    _ops_settings_label = "branch rules"
    _order = "project_id, sequence, id"

    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    pattern = fields.Char(required=True, help="fnmatch pattern: main, release/*, feature-*, *")
    stage = fields.Selection(STAGES, required=True, default="development")

    @api.constrains("pattern")
    def _check_pattern(self):
        for rule in self:
            pattern = rule.pattern or ""
            if not pattern or len(pattern) > 200 or any(c.isspace() or ord(c) < 32 for c in pattern):
                raise ValidationError(_("Invalid branch pattern %r.", pattern))

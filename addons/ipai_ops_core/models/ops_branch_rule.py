from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .ops_project import SETTINGS_RANK, STAGES


class OpsBranchRule(models.Model):
    """Maps branch name patterns (fnmatch, first match wins) to a stage."""

    _name = "ops.branch.rule"
    _description = "Ops branch-to-stage rule"
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

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        rules._check_can_manage()
        return rules

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
            project._ops_check_rank(SETTINGS_RANK, _("change the branch rules of project %s", project.name))

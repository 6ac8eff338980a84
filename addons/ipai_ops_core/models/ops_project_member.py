from odoo import api, fields, models

from .ops_project import ROLES


class OpsProjectMember(models.Model):
    _name = "ops.project.member"
    _inherit = ["ops.project.settings.mixin"]
    _description = "Ops project member"
    _ops_settings_label = "members"
    _order = "project_id, role, id"

    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    role = fields.Selection(ROLES, required=True, default="developer")
    login = fields.Char(related="user_id.login")

    _sql_constraints = [
        ("project_user_uniq", "unique(project_id, user_id)", "This user is already a member of the project."),
    ]

    def _compute_display_name(self):
        labels = dict(ROLES)
        for member in self:
            member.display_name = "%s (%s)" % (member.user_id.name or "", labels.get(member.role, ""))

    @api.model_create_multi
    def create(self, vals_list):
        members = super().create(vals_list)
        members._ensure_ops_group()
        return members

    def write(self, vals):
        res = super().write(vals)
        self._ensure_ops_group()
        return res

    def _ensure_ops_group(self):
        # A member needs the Ops User group to see the menus; adding a
        # member is an admin's decision, so granting the group is safe.
        group = self.env.ref("ipai_ops_core.group_ops_user")
        users = self.user_id.filtered(lambda u: group not in u.groups_id and not u.share)
        if users:
            # sudo: a project admin adds a member; that member gets the Ops User group, nothing more
            users.sudo().write({"groups_id": [fields.Command.link(group.id)]})

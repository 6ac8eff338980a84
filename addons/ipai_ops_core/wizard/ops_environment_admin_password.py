from odoo import _, fields, models
from odoo.exceptions import ValidationError

from ..models.ops_environment import MIN_ADMIN_PASSWORD as MIN_LENGTH


class OpsEnvironmentAdminPassword(models.TransientModel):
    """Set the Odoo administrator password of a running environment's
    database, for the people the stage matrix lets connect to it. The
    password is hashed into that database and kept nowhere else; the next
    build of a development or staging environment gives it the platform's
    random one again (production keeps it)."""

    _name = "ops.environment.admin.password"
    _description = "Set an environment's administrator password"

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade")
    # Not stored: the inverse hashes it into the environment's database when
    # the wizard is saved, so it never lands in a table of the control plane.
    password = fields.Char(compute="_compute_password", inverse="_inverse_password", readonly=False)

    def _compute_password(self):
        self.password = False

    def _inverse_password(self):
        for wizard in self:
            if len(wizard.password or "") < MIN_LENGTH:
                raise ValidationError(_("Choose a password of at least %s characters.", MIN_LENGTH))
            wizard.environment_id.set_admin_password(wizard.password)

    def action_apply(self):
        """The password was set when the wizard was saved (see the inverse)."""
        return {"type": "ir.actions.act_window_close"}

from odoo import _, api, fields, models
from odoo.exceptions import UserError

# What may run on an upgrade preview environment: its previews and its lifecycle.
PREVIEW_KINDS = ("upgrade_preview", "start", "stop", "recreate", "destroy")


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

    upgrade_to = fields.Char(
        "Upgrade preview of", readonly=True, copy=False, index=True,
        help="Set on the environments upgrade previews make: a neutralized copy of production migrated to this "
             "Odoo version. Only a new preview rebuilds it; it expires like a development build.")


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _resolve_environment(self, project, values):
        env = super()._resolve_environment(project, values)
        if env.upgrade_to and values.get("kind") not in PREVIEW_KINDS:
            raise UserError(_("%(env)s is an upgrade preview (Odoo %(version)s): only a new preview rebuilds it "
                              "(Upgrade tab, ops upgrade preview).", env=env.name, version=env.upgrade_to))
        return env

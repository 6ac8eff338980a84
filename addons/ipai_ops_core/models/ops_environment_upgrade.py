from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .rpc_args import valid_records

# What may run on an upgrade preview environment: its previews, its builds (upgrade mode: the code's modules
# updated on the migrated copy, executors/upgrade_mode.py) and its lifecycle.
PREVIEW_KINDS = ("upgrade_preview", "build", "start", "stop", "recreate", "destroy")


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

    upgrade_to = fields.Char(
        "Upgrade preview of", readonly=True, copy=False, index=True,
        help="Set on the environments upgrade previews make: a neutralized copy of production migrated to this "
             "Odoo version. A build (a push on its branch) updates the code's modules on that copy without "
             "migrating again (upgrade mode); a new preview brings a fresh copy. It expires like a development "
             "build.")

    def _ops_refused_fields(self):
        # A preview is never deployed, promoted or rolled back: production goes on with Upgrade production.
        refused = super()._ops_refused_fields()
        return refused | {"may_deploy", "may_promote", "may_rollback"} if self.upgrade_to else refused

    def promote(self):
        for env in valid_records(self, "Environment"):  # bad ids get the RPC's clear error first
            if env.upgrade_to:
                raise UserError(_("%(env)s is an upgrade preview (Odoo %(version)s): it is not promoted; production "
                                  "goes to Odoo %(version)s with Upgrade production (ops upgrade run), which "
                                  "migrates production's own data.", env=env.name, version=env.upgrade_to))
        return super().promote()


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _resolve_environment(self, project, values):
        env = super()._resolve_environment(project, values)
        if env.upgrade_to and values.get("kind") not in PREVIEW_KINDS:
            raise UserError(_("%(env)s is an upgrade preview (Odoo %(version)s): a build updates its code (upgrade "
                              "mode), a new preview its data (Upgrade tab, ops upgrade preview); a %(kind)s does "
                              "not run there.", env=env.name, version=env.upgrade_to, kind=values.get("kind")))
        return env

"""What the current user may do on each environment, by the stage matrix
(stage_matrix.py): the form, the kanban card and the list hide what the
server would refuse (the server still checks every call)."""

from odoo import api, fields, models

# field -> (matrix action, stage it acts on: None = the environment's own)
MAY = {
    "may_build": ("build", None),
    "may_deploy": ("deploy", None),
    "may_start": ("start", None),
    "may_stop": ("stop", None),
    "may_destroy": ("destroy", None),
    "may_rollback": ("rollback", None),
    "may_connect": ("connect", None),
    "may_logs": ("logs", None),
    "may_shell": ("shell", None),
    # a promotion deploys production
    "may_promote": ("deploy", "production"),
}


class OpsEnvironment(models.Model):
    _inherit = "ops.environment"

    may_build = fields.Boolean(compute="_compute_may")
    may_deploy = fields.Boolean(compute="_compute_may")
    may_start = fields.Boolean(compute="_compute_may")
    may_stop = fields.Boolean(compute="_compute_may")
    may_destroy = fields.Boolean(compute="_compute_may")
    may_rollback = fields.Boolean(compute="_compute_may")
    may_connect = fields.Boolean(compute="_compute_may")
    may_logs = fields.Boolean(compute="_compute_may")
    may_shell = fields.Boolean(compute="_compute_may")
    may_promote = fields.Boolean(compute="_compute_may")
    may_approve = fields.Boolean(compute="_compute_may")

    @api.depends_context("uid")
    @api.depends("stage", "project_id", "upgrade_to")
    def _compute_may(self):
        for env in self:
            project = env.project_id
            refused = env._ops_refused_fields()
            for name, (action, stage) in MAY.items():
                env[name] = bool(project and env.stage) and name not in refused and project._ops_may(
                    stage or env.stage, action)
            # approvals are the project's (admins and owners)
            env.may_approve = bool(project) and project._ops_may(None, "approve")

    def _ops_refused_fields(self):
        """The ``may_*`` fields false on this environment whatever the user's
        role (what the environment itself does not allow)."""
        self.ensure_one()
        return set()

import hashlib
import logging
import secrets
import time

from odoo import _, api, models
from odoo.exceptions import UserError, ValidationError

from .rpc_args import valid_records

_logger = logging.getLogger(__name__)
TOKEN_TTL = 60  # seconds to open the websocket after shell_open
DEFAULT_IDLE_TIMEOUT = 900  # seconds without input before a session ends (ipai_ops.shell_idle_timeout)


class OpsEnvironment(models.Model):
    """Shells: ``ops env shell`` (bash, or ``--odoo`` for Odoo's own shell on
    the environment's database) in the environment's container, through the
    control plane: the user needs no Docker or SSH access. Each session is
    a ``shell`` run (who, when, which environment) whose transcript is kept
    as an artifact. The stage matrix decides: every project role on
    development, testers and up on staging, admins on production."""

    _inherit = "ops.environment"

    def shell_open(self, odoo=False, tty=True, rows=24, cols=80):
        """Open a session: a ``shell`` run, and the websocket the client
        connects to within a minute with the single-use token:
        {"run_id", "path", "token", "idle_timeout"}."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "shell")
        for name, value in (("odoo", odoo), ("tty", tty)):
            if not isinstance(value, bool):
                raise ValidationError(_("%s is true or false.", name))
        for name, value in (("rows", rows), ("cols", cols)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise ValidationError(_("%s is a number from 1 to 1000.", name))
        env = self.sudo()  # sudo: the container the session runs in; the caller's right was checked above
        if env.state != "running" or not env.container_id:
            raise UserError(_("%s is not running: there is no container to open a shell in.", self.name))
        token = secrets.token_urlsafe(32)
        # sudo: users have no create right on runs; the stage check above is the gate
        run = self.env["ops.run"].sudo()._ops_shell_run(self, {
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(), "expires": time.time() + TOKEN_TTL,
            "odoo": odoo, "tty": tty, "rows": rows, "cols": cols, "login": self.env.user.login,
        })
        self._message_log(body=_("Shell: %(user)s opened %(what)s (run %(run)s).", user=self.env.user.name,
                                 what=_("an Odoo shell") if odoo else _("a shell"), run=run.display_name))
        _logger.info("ops shell: %s, environment %s, run %s", self.env.user.login, self.id, run.id)
        return {"run_id": run.id, "path": "/ipai_ops/shell/%d?db=%s" % (run.id, self.env.cr.dbname),
                "token": token, "idle_timeout": self._ops_shell_idle_timeout()}

    @api.model
    def shell_open_branch(self, project, branch, odoo=False, tty=True, rows=24, cols=80):
        """``ops env shell PROJECT BRANCH``."""
        return self._ops_branch_environment(project, branch).shell_open(odoo=odoo, tty=tty, rows=rows, cols=cols)

    def action_open_shell(self, odoo=False):
        """The web terminal (static/src/env_terminal) on this environment."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "shell")
        return {"type": "ir.actions.client", "tag": "ipai_ops_core.env_terminal",
                "name": _("Odoo shell: %s", self.name) if odoo else _("Shell: %s", self.name),
                "params": {"environment_id": self.id, "odoo": bool(odoo), "environment": self.name,
                           "stage": self.stage, "project": self.project_id.name}, "target": "current"}

    def action_open_odoo_shell(self):
        return self.action_open_shell(odoo=True)

    def _ops_shell_idle_timeout(self):
        # sudo: a system parameter, readable by system users only
        return self.env["ir.config_parameter"].sudo()._ops_int("ipai_ops.shell_idle_timeout", DEFAULT_IDLE_TIMEOUT)

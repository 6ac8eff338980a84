import logging

from odoo import _, api, models
from odoo.exceptions import UserError

from ..executors import credentials
from ..services import naming
from .rpc_args import valid_records

_logger = logging.getLogger(__name__)
DEFAULT_TTL = 60  # seconds a Connect link stays valid (ipai_ops.connect_ttl, at most this)


class OpsEnvironment(models.Model):
    """Connect: log into an environment as its administrator through a
    single-use link, for the people the stage matrix lets connect (every
    project role on development, testers and up on staging, admins on
    production). The administrator's password is neither shown nor needed."""

    _inherit = "ops.environment"

    def _ops_role_spec(self):
        """The environment's current database and the plain values to reach
        it as its own role (for the credential steps), or UserError."""
        self.ensure_one()
        if self.state != "running" or not self.database_name:
            raise UserError(_("%s has no running database.", self.name))
        env = self.sudo()  # sudo: the environment's own credentials, used by the caller and never returned
        if env.db_role != naming.env_role_name(naming.namespace_for(self.env.cr.dbname), env.id):
            raise UserError(_("%s still runs on its project's shared database role: rebuild it first.", self.name))
        role, role_password = env._ops_db_credentials()
        return env.database_name, {"db": env._ops_db_server(), "db_role": role,
                                   "db_role_password": role_password}

    def connect(self):
        """A link that logs the caller into this environment as its
        administrator: {"url", "expires_in"}. It works once, for this
        environment only, within ``expires_in`` seconds (XML-RPC too)."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "connect")
        if not self.url:
            raise UserError(_("%s has no URL yet.", self.name))
        dbname, spec = self._ops_role_spec()
        # sudo: a system parameter, readable by system users only
        ttl = min(self.env["ir.config_parameter"].sudo()._ops_int("ipai_ops.connect_ttl", DEFAULT_TTL), DEFAULT_TTL)
        token = credentials.connect_token(spec, dbname, ttl)
        self._message_log(body=_("Connect: %(user)s received a link to log into %(db)s as its administrator "
                                 "(single use, valid %(ttl)d s).", user=self.env.user.name, db=dbname, ttl=ttl))
        _logger.info("ops connect: %s, environment %s (%s)", self.env.user.login, self.id, dbname)
        return {"url": "%s/ipai_ops/connect?token=%s" % (self.url, token), "expires_in": ttl}

    @api.model
    def connect_branch(self, project, branch):
        """``ops env connect PROJECT BRANCH``."""
        return self._ops_branch_environment(project, branch).connect()

    def action_connect(self):
        if len(self) != 1:
            raise UserError(_("Connect to one environment at a time."))
        return {"type": "ir.actions.act_url", "url": self.connect()["url"], "target": "new"}

import logging

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import ValidationError

from ..services import egress

_logger = logging.getLogger(__name__)


class OpsProject(models.Model):
    """What the project's development and staging code may reach outside
    its network: nothing but the hosts listed here, through the platform's
    egress proxy (services/egress.py). Production reaches the internet."""

    _inherit = "ops.project"

    egress_allowlist = fields.Text(
        "Egress allow-list",
        help="Hosts development and staging environments may call (HTTP and HTTPS through the platform's egress "
             "proxy), one per line: api.example.com, .example.com (with its subdomains), an IPv4 address or "
             "network. Empty: none. Production is not limited.")

    @api.constrains("egress_allowlist")
    def _check_egress_allowlist(self):
        for project in self:
            try:
                egress.parse_allowlist(project.egress_allowlist)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    def write(self, vals):
        res = super().write(vals)
        if "egress_allowlist" in vals:
            self._ops_apply_egress_after_commit()
        return res

    def _ops_apply_egress_after_commit(self):
        """Once the new allow-list is committed, the egress proxy takes it
        for the project's development and staging environments (it reloads;
        no container restarts)."""
        registry, ids = self.env.registry, self.ids

        @self.env.cr.postcommit.add
        def apply():
            with registry.cursor() as cr:
                # held in a name: the transaction flushes only the environments still alive at commit
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["ops.project"].browse(ids)._ops_apply_egress()

    def _ops_apply_egress(self):
        settings = self.env["ops.run"]._ops_settings()
        envs = self.environment_ids.filtered(
            lambda e: e.stage != "production" and e.state != "destroyed" and e.network_subnet)
        for env in envs:
            try:
                egress.set_environment(settings["egress_root"], settings["egress_port"], env.id, env.network_subnet,
                                       env.project_id.egress_allowlist or "", forbidden=[settings["network_pool"]])
            except (egress.EgressError, ValueError, OSError) as exc:
                _logger.error("ops egress: environment %s: %s", env.id, exc)

from odoo import _, fields, models
from odoo.exceptions import AccessError


class OpsProject(models.Model):
    """How the project's environments face their visitors at the front door."""

    _inherit = "ops.project"

    maintenance_html = fields.Html(
        "Maintenance page", sanitize=True, sanitize_overridable=False,
        help="Shown (HTTP 503, Retry-After 30) while a production deploy updates the database. Empty: a "
             "plain page with the project's name.")
    allow_wildcard_domains = fields.Boolean(
        "Allow wildcard domains",
        help="Set by Ops managers: whether this project's production may have wildcard domains (*.example.com).")
    domain_ids = fields.One2many("ops.domain", "project_id", string="Custom domains")
    certificate_ids = fields.One2many("ops.certificate", "project_id", string="TLS certificates")

    def write(self, vals):
        if "allow_wildcard_domains" in vals and not self.env.su \
                and not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
            raise AccessError(_("Only Ops managers allow wildcard domains on a project."))
        return super().write(vals)

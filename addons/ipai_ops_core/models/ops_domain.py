from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..services import nginx_config


class OpsDomain(models.Model):
    """A custom domain of a production environment (shop.example.com),
    served by the front door next to the environment's own name. Project
    admins add them; a wildcard (*.example.com) only where an Ops manager
    allowed it on the project."""

    _name = "ops.domain"
    _description = "Ops custom domain"
    _order = "name"

    name = fields.Char("Domain", required=True, help="A hostname such as shop.example.com: no scheme, port or path.")
    environment_id = fields.Many2one("ops.environment", required=True, index=True, ondelete="cascade",
                                     domain=[("stage", "=", "production")])
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    certificate_id = fields.Many2one("ops.certificate", compute="_compute_certificate",
                                     help="The certificate that covers it (HTTPS), if any.")

    _sql_constraints = [
        ("name_uniq", "unique(name)", "This domain is already served by an environment."),
    ]

    @api.model
    def _ops_clean_name(self, name):
        return name.strip().lower().rstrip(".") if isinstance(name, str) else name

    @api.depends("name", "environment_id")
    def _compute_certificate(self):
        for domain in self:
            domain.certificate_id = domain.environment_id._ops_certificates().get(domain.name) \
                if domain.environment_id else False

    @api.constrains("name", "environment_id")
    def _check_domain(self):
        base = self.env["ops.run"]._ops_settings()["base_domain"]
        for domain in self:
            try:
                nginx_config.validate_hostname(domain.name, wildcard=True)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
            if domain.environment_id.stage != "production":
                raise ValidationError(_("Custom domains belong to production environments."))
            if domain.name.startswith("*.") and not domain.project_id.allow_wildcard_domains:
                raise ValidationError(_("%(domain)s is a wildcard: an Ops manager must allow wildcard domains on "
                                        "project %(project)s first.", domain=domain.name,
                                        project=domain.project_id.slug))
            bare = domain.name[2:] if domain.name.startswith("*.") else domain.name
            if bare == base or bare.endswith("." + base):
                raise ValidationError(_("%(name)s is under the platform's base domain %(base)s: those names are the "
                                        "environments' own.", name=domain.name, base=base))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            vals["name"] = self._ops_clean_name(vals.get("name"))
            self._ops_check_admin(vals.get("environment_id"))
        domains = super().create(vals_list)
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return domains

    def write(self, vals):
        if "name" in vals:
            vals["name"] = self._ops_clean_name(vals["name"])
        for domain in self:
            self._ops_check_admin(domain.environment_id.id)
        if vals.get("environment_id"):
            self._ops_check_admin(vals["environment_id"])
        result = super().write(vals)
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return result

    def unlink(self):
        for domain in self:
            self._ops_check_admin(domain.environment_id.id)
        result = super().unlink()
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return result

    @api.model
    def _ops_check_admin(self, environment_id):
        if self.env.su:
            return
        env = self.env["ops.environment"].browse(environment_id).exists()
        if not env:
            raise ValidationError(_("A custom domain needs an existing environment."))
        env.project_id._ops_check_project_action("settings", _("change the domains of %s", env.name))

from odoo import _, api, models
from odoo.exceptions import ValidationError

from ..services import nginx_config


def _scheme(value):
    if value not in ("http", "https"):
        raise ValueError("Invalid scheme %r: http or https." % value)


def _port(value):
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError("Invalid port %r: a number from 1 to 65535." % value)


# The platform's front door settings, checked before they are written: a
# wrong one would render a proxy configuration nginx refuses, or URLs that
# lead nowhere.
CHECKS = {
    "ipai_ops.base_domain": nginx_config.validate_hostname,
    "ipai_ops.proxy_listen": nginx_config.validate_listen,
    "ipai_ops.proxy_listen_tls": nginx_config.validate_listen,
    "ipai_ops.public_port": _port,
    "ipai_ops.public_tls_port": _port,
    "ipai_ops.public_scheme": _scheme,
}


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _ops_int(self, key, default, minimum=1):
        """A whole-number setting: ``default`` when unset or not a number,
        never below ``minimum``. Callers read it as the platform (sudo)."""
        value = self.get_param(key)
        try:
            return max(minimum, int(value)) if value else default
        except ValueError:
            return default

    @api.model
    def _ops_check(self, key, value):
        check = CHECKS.get(key)
        if check and value not in (False, None, ""):
            try:
                check(value.strip() if isinstance(value, str) else value)
            except ValueError as exc:
                raise ValidationError(_("%(key)s: %(error)s", key=key, error=exc)) from exc

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._ops_check(vals.get("key"), vals.get("value"))
        return super().create(vals_list)

    def write(self, vals):
        for param in self:
            self._ops_check(vals.get("key", param.key), vals.get("value", param.value))
        return super().write(vals)

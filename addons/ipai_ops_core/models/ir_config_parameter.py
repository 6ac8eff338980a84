from odoo import _, api, models
from odoo.exceptions import ValidationError

from ..services import nginx_config, secret_box
from . import secret_fields


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
# Kept encrypted (secret_fields): the column holds ciphertext, get_param gives the clear text.
# Another addon adds its own (ir.config_parameter._ops_secret_params).
SECRET_PARAMS = ("ipai_ops.env_db_password", "ipai_ops.production_db_password")


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _ops_secret_params(self):
        """The parameters kept encrypted; an addon adds its own (super() first)."""
        return frozenset(SECRET_PARAMS)

    def _ops_sealed(self, key, value):
        if key in self._ops_secret_params() and value and not secret_box.is_sealed(value):
            return secret_fields.seal(str(value))
        return value

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

    @api.model
    def get_param(self, key, default=False):
        value = super().get_param(key, default)
        if secret_box.is_sealed(value) and key in self._ops_secret_params():
            return secret_fields.unseal(value, "the system parameter %s" % key)
        return value

    @api.model
    def set_param(self, key, value):
        old = super().set_param(key, value)
        if secret_box.is_sealed(old) and key in self._ops_secret_params():
            return secret_fields.unseal(old, "the system parameter %s" % key)
        return old

    @api.model
    def _ops_seal_clear_params(self, keys=None):
        """Encrypt the secret parameters (of ``keys``) still stored in clear
        (the migrations call it). Returns how many it encrypted."""
        self.flush_model(["value"])
        self.invalidate_model(["value"])  # what the table holds, not what a cache remembers
        secret = self._ops_secret_params()
        params = self.search([("key", "in", [key for key in (secret if keys is None else keys) if key in secret])])
        clear = params.filtered(lambda p: p.value and not secret_box.is_sealed(p.value))
        for param in clear:
            param.write({"value": param.value})
        return len(clear)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._ops_check(vals.get("key"), vals.get("value"))
        vals_list = [dict(vals, value=self._ops_sealed(vals.get("key"), vals["value"])) if "value" in vals else vals
                     for vals in vals_list]
        return super().create(vals_list)

    def write(self, vals):
        for param in self:
            self._ops_check(vals.get("key", param.key), vals.get("value", param.value))
        secret = self._ops_secret_params()
        if "key" not in vals and ("value" not in vals or not set(self.mapped("key")) & secret):
            return super().write(vals)
        for param in self:
            key, value = vals.get("key", param.key), vals.get("value", param.value)
            if key not in secret and param.key in secret and secret_box.is_sealed(value):
                value = secret_fields.unseal(value, "the system parameter %s" % param.key)  # renamed: not a secret
            super(IrConfigParameter, param).write(dict(vals, value=self._ops_sealed(key, value)))
        return True

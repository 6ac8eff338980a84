from odoo import api, models


class IrConfigParameter(models.Model):
    """The off-site storage's secret key is kept encrypted, like core's
    secret parameters (ipai_ops_core/models/ir_config_parameter.py)."""

    _inherit = "ir.config_parameter"

    @api.model
    def _ops_secret_params(self):
        return super()._ops_secret_params() | {"ipai_ops.backup_s3_secret_key",
                                                  "ipai_ops.pitr_superuser_password", "ipai_ops.pitr_cipher_pass"}

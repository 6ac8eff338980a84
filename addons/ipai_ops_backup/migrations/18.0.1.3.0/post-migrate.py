"""18.0.1.3.0: the off-site storage's secret key (system parameter
ipai_ops.backup_s3_secret_key) is encrypted at rest with the control
plane's key file; get_param gives the clear text."""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    params = api.Environment(cr, SUPERUSER_ID, {})["ir.config_parameter"]
    done = params._ops_seal_clear_params(["ipai_ops.backup_s3_secret_key"])
    _logger.info("ipai_ops_backup 18.0.1.3.0: %d secret parameters encrypted at rest", done)

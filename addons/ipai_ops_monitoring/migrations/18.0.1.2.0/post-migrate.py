"""18.0.1.2.0: the alert channels' signing secrets are encrypted at rest
(ipai_ops_core's secret fields), with the control plane's key file."""

import logging

from odoo import SUPERUSER_ID, api
from odoo.addons.ipai_ops_core.models.secret_fields import seal_clear_values

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    done = seal_clear_values(api.Environment(cr, SUPERUSER_ID, {}), "ops.alert.channel", ["secret"])
    _logger.info("ipai_ops_monitoring 18.0.1.2.0: %d channel secrets encrypted at rest", done)

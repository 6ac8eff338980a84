"""18.0.1.4.0: secrets at rest are encrypted (models/secret_fields.py).

The environments' database and administrator passwords, the TLS private
keys, the projects' webhook secrets and GitHub tokens and the secret system
parameters were stored in clear: encrypted here with the key file (made now
if there is none; back it up with the control plane). The mail catcher's
logins are now derived from that key file instead of database.secret:
running development and staging environments get theirs on their next
build or deploy (until then the catcher refuses the mail they send), which
their chatter says.
"""

import logging

from odoo import SUPERUSER_ID, api
from odoo.addons.ipai_ops_core.models.secret_fields import seal_clear_values

_logger = logging.getLogger(__name__)
SECRET_FIELDS = {
    "ops.environment": ["db_password", "admin_password"],
    "ops.certificate": ["private_key"],
    "ops.project": ["webhook_secret", "github_token"],
}


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    done = sum(seal_clear_values(env, model, names) for model, names in SECRET_FIELDS.items())
    done += env["ir.config_parameter"]._ops_seal_clear_params()
    _logger.info("ipai_ops 18.0.1.4.0: %d secrets encrypted at rest", done)
    running = env["ops.environment"].search([("stage", "in", ("development", "staging")),
                                             ("container_id", "!=", False), ("state", "!=", "destroyed")])
    for record in running:
        record._message_log(body=(
            "Security update: the mail catcher's logins no longer derive from the database's secret. This "
            "environment gets its new login on its next build or deploy; until then the mail it sends is refused "
            "(not delivered anywhere either way)."))

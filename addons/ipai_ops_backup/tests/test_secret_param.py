"""The off-site storage's secret key is encrypted at rest; the backups get
the clear text; the migration encrypts a key stored in clear."""

import os

from odoo.addons.ipai_ops_core.services import secret_box
from odoo.addons.ipai_ops_core.tests.migration_helpers import load_migration
from odoo.tests import TransactionCase, tagged

MIGRATION = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations", "18.0.1.3.0", "post-migrate.py")
KEY = "ipai_ops.backup_s3_secret_key"


@tagged("post_install", "-at_install", "ipai_ops")
class TestSecretParam(TransactionCase):
    def stored(self):
        self.env["ir.config_parameter"].flush_model()
        self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", [KEY])
        return self.env.cr.fetchone()[0]

    def test_the_s3_secret_key_is_encrypted_and_the_migration_encrypts_a_clear_one(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ipai_ops.backup_s3_bucket", "bucket")
        params.set_param(KEY, "s3-secret-key")
        self.assertTrue(secret_box.is_sealed(self.stored()) and "s3-secret-key" not in self.stored())
        self.assertEqual(self.env["ops.backup"]._offsite_settings()["secret_key"], "s3-secret-key")

        self.env.cr.execute("UPDATE ir_config_parameter SET value = 'older-clear' WHERE key = %s", [KEY])
        self.env.registry.clear_cache()
        self.assertEqual(params.get_param(KEY), "older-clear", "a clear value still reads until the migration ran")
        load_migration(MIGRATION).migrate(self.env.cr, "18.0.1.2.0")
        self.assertTrue(secret_box.is_sealed(self.stored()))
        self.env.registry.clear_cache()
        self.assertEqual(params.get_param(KEY), "older-clear")

"""An alert channel's signing secret is encrypted at rest; deliveries are
signed with the clear text; the migration encrypts older clear secrets."""

import os

from odoo.addons.ipai_ops_core.services import secret_box
from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.addons.ipai_ops_core.tests.migration_helpers import load_migration
from odoo.tests import tagged

from ..services import webhook

MIGRATION = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations", "18.0.1.2.0", "post-migrate.py")


@tagged("post_install", "-at_install", "ipai_ops")
class TestChannelSecret(OpsCase):
    def column(self, channel):
        channel.flush_recordset()
        self.env.cr.execute("SELECT secret FROM ops_alert_channel WHERE id = %s", [channel.id])
        return self.env.cr.fetchone()[0]

    def test_the_secret_is_encrypted_at_rest_and_signs_in_clear(self):
        channel = self.env["ops.alert.channel"].with_user(self.users["admin"]).create({
            "name": "hook", "project_id": self.project.id, "url": "https://hooks.example.com/x",
            "new_secret": "channel-signing-secret"})
        stored = self.column(channel)
        self.assertTrue(secret_box.is_sealed(stored) and "channel-signing-secret" not in stored, stored)
        channel.invalidate_recordset()
        self.assertEqual(channel.sudo().secret, "channel-signing-secret")
        self.assertTrue(channel.has_secret)
        self.assertEqual(webhook.signature(channel.sudo().secret, b"{}"),
                         webhook.signature("channel-signing-secret", b"{}"))

    def test_the_migration_encrypts_a_clear_secret(self):
        channel = self.env["ops.alert.channel"].create({"name": "old", "url": "https://hooks.example.com/y"})
        channel.flush_recordset()
        self.env.cr.execute("UPDATE ops_alert_channel SET secret = 'old-clear-secret' WHERE id = %s", [channel.id])
        load_migration(MIGRATION).migrate(self.env.cr, "18.0.1.1.0")
        self.assertTrue(secret_box.is_sealed(self.column(channel)))
        channel.invalidate_recordset()
        self.assertEqual(channel.sudo().secret, "old-clear-secret")

"""Secrets at rest: the column holds ciphertext, the ORM gives the clear
text, the migration encrypts what an older version stored in clear, and a
missing or wrong key file is named as such."""

import os
import shutil
import tempfile
from unittest.mock import patch

from cryptography.fernet import Fernet
from odoo import tools
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..models import secret_fields
from ..services import secret_box
from .common import OpsCase
from .migration_helpers import load_migration
from .tls_helpers import ThrowawayCA

MIGRATION = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations", "18.0.1.4.0", "post-migrate.py")


@tagged("post_install", "-at_install", "ipai_ops")
class TestSecretsAtRest(OpsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = ThrowawayCA()

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="ipai-ops-keys-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def column(self, record, name):
        record.flush_recordset([name])
        self.env.cr.execute("SELECT %s FROM %s WHERE id = %%s" % (name, record._table), [record.id])
        return self.env.cr.fetchone()[0]

    def param_column(self, key):
        self.env["ir.config_parameter"].flush_model()
        self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", [key])
        return self.env.cr.fetchone()[0]

    def assert_sealed(self, stored, clear):
        self.assertTrue(secret_box.is_sealed(stored), "the column holds %r" % stored[:40])
        self.assertNotIn(clear, stored)

    def use_key_file(self, path):
        """Odoo option ipai_ops_key_file = ``path`` for the rest of the test."""
        patcher = patch.dict(tools.config.options, {"ipai_ops_key_file": path})
        patcher.start()
        self.addCleanup(patcher.stop)

    def key_file(self, *keys, mode=0o600):
        path = os.path.join(self.tmp, "k%d.key" % len(os.listdir(self.tmp)))
        with open(path, "wb") as fh:
            fh.write(b"".join(key + b"\n" for key in keys))
        os.chmod(path, mode)
        return path

    def secret_records(self):
        """One record of each encrypted field, with clear values the test knows."""
        env = self.env_prod.sudo()
        role, db_password = env._ops_db_credentials()
        admin_password = env._ops_admin_password()
        project = self.project.sudo()
        project.write({"webhook_secret": "hook-secret-%s" % project.id, "github_token": "ghp_token_%s" % project.id})
        chain, key = self.ca.issue(["vault.test-shop.example.com"])
        cert = self.env["ops.certificate"].with_user(self.manager).create(
            {"project_id": self.project.id, "certificate": chain, "private_key_upload": key})
        return [(env, "db_password", db_password), (env, "admin_password", admin_password),
                (project, "webhook_secret", project.webhook_secret), (project, "github_token", project.github_token),
                (cert.sudo(), "private_key", key)]

    def test_columns_hold_ciphertext_and_the_orm_the_clear_text(self):
        for record, name, clear in self.secret_records():
            with self.subTest(field=name):
                self.assertTrue(clear)
                self.assert_sealed(self.column(record, name), clear)
                record.invalidate_recordset([name])
                self.assertEqual(record[name], clear, "read back from the database")
                self.assertEqual(record.read([name])[0][name], clear)
        # Stable: the platform asks again and gets the same passwords.
        self.assertEqual(self.env_prod._ops_db_credentials(), self.env_prod._ops_db_credentials())

    def test_a_clear_text_that_looks_encrypted_is_encrypted_like_any_other(self):
        project = self.project.sudo()
        sly = secret_box.MARK + "deadbeef:not-a-token"
        project.webhook_secret = sly
        stored = self.column(project, "webhook_secret")
        self.assertNotEqual(stored, sly)
        project.invalidate_recordset()
        self.assertEqual(project.webhook_secret, sly)
        project.webhook_secret = False
        self.assertIsNone(self.column(project, "webhook_secret"))

    def test_secret_parameters_are_encrypted_on_set_and_clear_on_get(self):
        params = self.env["ir.config_parameter"].sudo()
        # core's, and those another addon adds (the backup addon's S3 secret key, tested there too)
        for key in sorted(params._ops_secret_params()):
            with self.subTest(key=key):
                params.set_param(key, "pw-of-%s" % key)
                self.assert_sealed(self.param_column(key), "pw-of-%s" % key)
                self.assertEqual(params.get_param(key), "pw-of-%s" % key)
                self.assertEqual(params.set_param(key, "next"), "pw-of-%s" % key, "set_param returns the old value")
                self.assertEqual(params.get_param(key), "next")
        # Only those: other settings stay as they are.
        params.set_param("ipai_ops.base_domain", "ops.example.com")
        self.assertEqual(self.param_column("ipai_ops.base_domain"), "ops.example.com")
        self.assertEqual(settings_password(self.env), "next", "the executors' settings get the clear text")

    def test_the_migration_encrypts_clear_values_of_older_versions(self):
        records = self.secret_records()
        for record, name, clear in records:
            self.env.cr.execute("UPDATE %s SET %s = %%s WHERE id = %%s" % (record._table, name), [clear, record.id])
        self.env.cr.execute("UPDATE ir_config_parameter SET value = 'old-clear' WHERE key = 'ipai_ops.env_db_password'")
        if not self.env.cr.rowcount:
            self.env.cr.execute("INSERT INTO ir_config_parameter (key, value) VALUES "
                                "('ipai_ops.env_db_password', 'old-clear')")
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        for record, name, clear in records:
            self.assertEqual(record[name], clear, "a clear value still reads until the migration ran")

        load_migration(MIGRATION).migrate(self.env.cr, "18.0.1.3.0")

        for record, name, clear in records:
            with self.subTest(field=name):
                self.assert_sealed(self.column(record, name), clear)
                record.invalidate_recordset([name])
                self.assertEqual(record[name], clear)
        self.assert_sealed(self.param_column("ipai_ops.env_db_password"), "old-clear")
        self.assertEqual(self.env["ir.config_parameter"].sudo().get_param("ipai_ops.env_db_password"), "old-clear")
        self.assertEqual(secret_fields.seal_clear_values(self.env, "ops.environment", ["db_password"]), 0,
                         "a second run finds nothing to encrypt")

    def test_a_missing_or_wrong_key_file_is_named(self):
        env = self.env_prod.sudo()
        env._ops_db_credentials()
        env.flush_recordset()
        # Missing: the secrets cannot be read, and the error says which file and what to do.
        missing = os.path.join(self.tmp, "nowhere", "secrets.key")
        self.use_key_file(missing)
        env.invalidate_recordset()
        with self.assertRaisesRegex(UserError, "key file %s does not exist.*backed up with the control plane"
                                    % missing):
            _clear = env.db_password  # reading it is the test
        # Another key: named, with the key the value needs.
        needed = self.column(env, "db_password")[len(secret_box.MARK):].split(":")[0]
        other = Fernet.generate_key()
        self.use_key_file(self.key_file(other))
        env.invalidate_recordset()
        with self.assertRaisesRegex(UserError, "encrypted with key %s, and the key file .* holds key %s"
                                    % (needed, secret_box.key_id(other))):
            _clear = env.db_password  # reading it is the test
        # A key file others may read is refused, not used.
        self.use_key_file(self.key_file(other, mode=0o644))
        with self.assertRaisesRegex(UserError, "readable or writable by others"):
            env.write({"admin_password": "x" * 20})
        self.use_key_file(self.key_file(b"not a key"))
        with self.assertRaisesRegex(UserError, "line 1 is not a key"):
            env.write({"admin_password": "x" * 20})

    def test_a_new_key_file_is_made_on_first_use_owner_only(self):
        path = os.path.join(self.tmp, "keys", "secrets.key")
        self.use_key_file(path)
        project = self.project.sudo()
        project.webhook_secret = "first-use"
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
        project.invalidate_recordset()
        self.assertEqual(project.webhook_secret, "first-use")
        # Rotation: a new key first, the old one after it; old values still open.
        with open(path, "rb") as fh:
            old = fh.read()
        with open(path, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n" + old)
        project.invalidate_recordset()
        self.assertEqual(project.webhook_secret, "first-use")
        # An altered value is refused, not returned.
        stored = self.column(project, "webhook_secret")
        self.env.cr.execute("UPDATE ops_project SET webhook_secret = %s WHERE id = %s",
                            [stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:], project.id])
        project.invalidate_recordset()
        with self.assertRaisesRegex(UserError, "was altered"):
            _clear = project.webhook_secret  # reading it is the test

    def test_mail_catcher_logins_come_from_the_key_file_not_the_database(self):
        Mail = self.env["ops.mail"]
        before = Mail._ops_secret(self.env_dev.id)
        self.assertEqual(len(before), 32)
        self.assertNotEqual(before, Mail._ops_secret(self.env_staging.id))
        self.env["ir.config_parameter"].sudo().set_param("database.secret", "what a dump shows")
        self.assertEqual(Mail._ops_secret(self.env_dev.id), before, "database.secret plays no part")
        self.use_key_file(self.key_file(Fernet.generate_key()))
        self.assertNotEqual(Mail._ops_secret(self.env_dev.id), before, "the key file does")


def settings_password(env):
    return env["ops.run"]._ops_settings()["db"]["password"]

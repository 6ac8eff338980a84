"""Production's cluster as the platform configures it: nothing before the
setup, its repositories from the settings (the off-site one always
encrypted, and refused over plain HTTP with the reason), managers only, and
its secrets sealed at rest."""

from odoo.addons.ipai_ops_core.services import secret_box
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install", "ipai_ops")
class TestPitrConfig(TransactionCase):
    def setUp(self):
        super().setUp()
        self.params = self.env["ir.config_parameter"].sudo()
        for key in ("ipai_ops.production_db_port", "ipai_ops.backup_s3_bucket"):
            self.params.set_param(key, False)

    def test_nothing_before_the_setup(self):
        self.assertIsNone(self.env["ops.pitr"]._ops_config())
        self.assertIsNone(self.env["ops.run"]._ops_settings()["production_db"])

    def test_repositories_from_the_settings(self):
        self.params.set_param("ipai_ops.production_db_port", "55432")
        self.params.set_param("ipai_ops.production_db_password", "control-secret")
        config = self.env["ops.pitr"]._ops_config()
        self.assertEqual([repo.get("type") for repo in config["repos"]], [None])
        self.assertEqual(config["conn"]["port"], 55432)
        self.assertEqual(config["conn"]["password"], "control-secret")
        # The off-site storage over plain HTTP: local only, and the form says why.
        self.params.set_param("ipai_ops.backup_s3_bucket", "offsite")
        self.params.set_param("ipai_ops.backup_s3_endpoint", "http://s3.example.test")
        self.params.set_param("ipai_ops.pitr_cipher_pass", "cipher-pass")
        config = self.env["ops.pitr"]._ops_config()
        self.assertEqual(len(config["repos"]), 1)
        self.assertIn("HTTPS only", config["offsite_problem"])
        # Over HTTPS: a second repository, encrypted with the platform's key.
        self.params.set_param("ipai_ops.backup_s3_endpoint", "https://s3.example.test:9443")
        s3 = self.env["ops.pitr"]._ops_config()["repos"][1]
        self.assertEqual((s3["type"], s3["endpoint"], s3["port"], s3["bucket"], s3["cipher_pass"]),
                         ("s3", "s3.example.test", 9443, "offsite", "cipher-pass"))
        # Without a key, nothing goes off-site unencrypted.
        self.params.set_param("ipai_ops.pitr_cipher_pass", False)
        self.assertEqual(len(self.env["ops.pitr"]._ops_config()["repos"]), 1)

    def test_secrets_are_sealed_at_rest(self):
        for key in ("ipai_ops.production_db_password", "ipai_ops.pitr_superuser_password",
                    "ipai_ops.pitr_cipher_pass"):
            self.params.set_param(key, "clear-" + key)
            self.params.flush_model()
            self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", [key])
            self.assertTrue(secret_box.is_sealed(self.env.cr.fetchone()[0]), key)
            self.assertEqual(self.params.get_param(key), "clear-" + key)

    def test_setup_is_for_managers_and_restore_names_what_is_missing(self):
        user = new_test_user(self.env, login="pitr_user", groups="base.group_user,ipai_ops_core.group_ops_user")
        with self.assertRaises(AccessError):
            self.env["ops.pitr"].with_user(user).setup(5434)
        with self.assertRaisesRegex(UserError, "No project"):
            self.env["ops.pitr"].with_user(user).restore("no-such-project", "2026-12-02 15:59:30")
        with self.assertRaisesRegex(UserError, "slug"):
            self.env["ops.pitr"].with_user(user).restore(42, "2026-12-02 15:59:30")

    def test_a_production_from_before_moves_with_its_next_deploy(self):
        """Its form says so once the cluster exists, and the server it is on is the platform's to change
        (the move's deploy), never a user's, an Ops manager's included."""
        # sudo: test setup, a production made before the cluster as a deploy leaves it
        project = self.env["ops.project"].sudo().create({"name": "PITR config", "slug": "pitr-config",
                                                         "repo_url": "https://git.example.test/pitr.git"})
        prod = self.env["ops.environment"].sudo().create({"project_id": project.id, "branch": "main",
                                                          "stage": "production", "database_name": "ops_pitr_cfg"})
        self.assertEqual(prod.db_cluster, "shared")
        self.assertIn("Not on production's cluster", prod.pitr_state)
        self.params.set_param("ipai_ops.production_db_port", "55432")
        prod.invalidate_recordset(["pitr_state"])
        self.assertIn("Moves onto production's cluster with its next deploy", prod.pitr_state)
        manager = new_test_user(self.env, login="pitr_manager",
                                groups="base.group_user,ipai_ops_core.group_ops_manager")
        for values in ({"db_cluster": "production"}, {"database_since": "2026-01-01 00:00:00"}):
            with self.assertRaisesRegex(AccessError, "can only be changed by runs"):
                prod.with_user(manager).write(values)
        self.assertEqual(prod.db_cluster, "shared")

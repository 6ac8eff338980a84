"""The backup addon's kinds of run, added to core's registry from here:
backups, restores and drills are stage-matrix actions of their own (admins
on every stage), queued and claimed like core's kinds, with their config
keys reserved for the platform; production deploys and upgrades back
production up first."""

from odoo.addons.ipai_ops_core.executors import registry
from odoo.addons.ipai_ops_core.models import stage_matrix
from odoo.addons.ipai_ops_core.models.ops_run import RUN_KINDS
from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..executors import backup as backup_executor

ROLES = ("viewer", "developer", "tester", "admin", "owner")
DATA = ("backup", "restore", "drill")


@tagged("post_install", "-at_install", "ipai_ops")
class TestBackupRunKinds(OpsCase):
    def test_core_knows_nothing_of_them(self):
        self.assertFalse(set(DATA) & set(registry.core_kinds()))
        self.assertFalse(set(DATA) & set(stage_matrix.ACTIONS))
        self.assertFalse(set(DATA) & {value for value, _label in RUN_KINDS})
        self.assertLessEqual(set(DATA), {value for value, _label in self.Run._fields["kind"].selection})
        self.assertIn("backup", dict(self.env["ops.project"]._fields["staging_source"].selection))

    def test_the_registry_has_them_with_their_executors(self):
        kinds = self.Run._ops_run_kinds()
        self.assertEqual({kind: kinds[kind].executor("production") for kind in DATA},
                         {"backup": backup_executor.execute_backup, "restore": backup_executor.execute_restore,
                          "drill": backup_executor.execute_drill})
        for kind in ("build", "deploy", "upgrade"):
            with self.subTest(kind=kind):
                # production: wrapped (a backup first); development and staging: core's own executor
                self.assertNotEqual(kinds[kind].executor("production"), registry.core_kinds()[kind].executor(
                    "production"))
                self.assertIn("_ops_pre_deploy_backup_spec", kinds[kind].extend_spec)
        self.assertEqual(kinds["build"].executor("development"), registry.core_kinds()["build"].executor(
            "development"))

    def test_admins_only_on_every_stage(self):
        envs = {"development": self.env_dev, "staging": self.env_staging, "production": self.env_prod}
        for stage, env in envs.items():
            for kind in ("backup", "restore"):
                for role in ROLES:
                    with self.subTest(stage=stage, kind=kind, role=role):
                        if role in ("admin", "owner"):
                            run = self.queue(user=self.users[role], environment_id=env.id, kind=kind)
                            self.assertEqual((run["kind"], run["stage"], run["state"]), (kind, stage, "queued"))
                        else:
                            with self.assertRaises(AccessError):
                                self.queue(user=self.users[role], environment_id=env.id, kind=kind)
                with self.subTest(stage=stage, kind=kind, role="outsider"), self.assertRaises(AccessError):
                    self.queue(user=self.users["outsider"], environment_id=env.id, kind=kind)

    def test_claimed_by_kind_and_never_waiting_for_approval(self):
        self.project.sudo().production_approval = True
        backup = self.queue(user=self.users["admin"], environment_id=self.env_prod.id, kind="backup")
        self.assertEqual(backup["state"], "queued", "a backup of production needs no approval")
        self.queue(environment_id=self.env_dev.id)
        self.assertEqual(self.as_worker().claim_next_run("w1", ["backup"])["id"], backup["id"])

    def test_their_config_keys_are_the_platforms(self):
        reserved = self.Run._ops_reserved_config()
        for key in ("backup_id", "pre_backup_id", "import_path", "import_name"):
            self.assertIn(key, reserved)
            with self.subTest(key=key), self.assertRaisesRegex(ValidationError, "set by the platform"):
                self.queue(user=self.users["owner"], environment_id=self.env_dev.id, kind="build", config={key: 1})


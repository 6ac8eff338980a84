"""Stage isolation, as real users of each role: the one stage matrix, fields
only runs may set, caught mail, hosts, run kinds, the platform's config keys,
promotion, local repositories."""

import os
import tempfile

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger
from psycopg2 import errors

from ..executors import guard
from ..executors.base import RunFailed
from ..models import stage_matrix
from ..services import naming
from .common import OpsCase

ROLES = ("viewer", "developer", "tester", "admin", "owner")
RUN = ("build", "deploy", "start", "stop", "destroy", "rollback")
INSPECT = ("connect", "logs", "shell", "mails", "monitoring")
# Odoo.sh's matrix, written out by hand (not derived from the code under test):
# development: every role acts; staging: developers see the history only,
# testers also act, connect, read logs, shell, mails, monitoring; production:
# admins only beyond the history. (Backups and restores, admins everywhere: the
# backup addon's own actions, tested there.)
EXPECTED = {
    "development": {"history": ROLES, **{a: ROLES[1:] for a in RUN + INSPECT}},
    "staging": {"history": ROLES, **{a: ROLES[2:] for a in RUN + INSPECT}},
    "production": {"history": ROLES, **{a: ROLES[3:] for a in RUN + INSPECT}},
}


@tagged("post_install", "-at_install", "ipai_ops")
class TestStageMatrix(OpsCase):
    def test_every_action_on_every_stage(self):
        self.assertEqual(set(stage_matrix.ACTIONS), {"history", *RUN, *INSPECT})
        for stage, actions in EXPECTED.items():
            for action, allowed in actions.items():
                for role in ROLES:
                    with self.subTest(stage=stage, action=action, role=role):
                        project = self.project.with_user(self.users[role])
                        if role in allowed:
                            project._ops_check_action(stage, action)
                        else:
                            with self.assertRaisesRegex(AccessError, "role: %s" % role):
                                project._ops_check_action(stage, action)
                with self.subTest(stage=stage, action=action, role="manager"):
                    self.project.with_user(self.manager)._ops_check_action(stage, action)
                with self.subTest(stage=stage, action=action, role="outsider"), self.assertRaises(AccessError):
                    self.project.with_user(self.users["outsider"])._ops_check_action(stage, action)

    def test_queueing_runs_follows_the_matrix(self):
        """The run kinds that exist, queued for real by each role on each stage."""
        envs = {"development": self.env_dev, "staging": self.env_staging, "production": self.env_prod}
        for stage, env in envs.items():
            for kind in RUN:
                for role in ROLES:
                    with self.subTest(stage=stage, kind=kind, role=role):
                        if role in EXPECTED[stage][kind]:
                            run = self.queue(user=self.users[role], environment_id=env.id, kind=kind)
                            self.assertEqual((run["kind"], run["stage"], run["state"]), (kind, stage, "queued"))
                        else:
                            with self.assertRaises(AccessError):
                                self.queue(user=self.users[role], environment_id=env.id, kind=kind)

    def test_caught_mail_follows_the_matrix(self):
        Mail = self.env["ops.mail"].sudo()
        dev = Mail.create({"environment_id": self.env_dev.id, "subject": "dev mail"})
        staging = Mail.create({"environment_id": self.env_staging.id, "subject": "staging copy of a customer mail"})
        for role in ROLES:
            with self.subTest(role=role):
                seen = self.env["ops.mail"].with_user(self.users[role]).search([("id", "in", (dev + staging).ids)])
                expected = (dev if role in EXPECTED["development"]["mails"] else Mail.browse()) | \
                    (staging if role in EXPECTED["staging"]["mails"] else Mail.browse())
                self.assertEqual(seen, expected)
                if staging not in expected:
                    with self.assertRaises(AccessError):
                        staging.with_user(self.users[role]).read(["body"])

    def test_hosts_are_for_managers_and_workers(self):
        for role in ROLES:
            with self.subTest(role=role), self.assertRaises(AccessError):
                self.env["ops.host"].with_user(self.users[role]).search([])
        self.assertTrue(self.env["ops.host"].with_user(self.worker).search([]))
        self.assertTrue(self.env["ops.host"].with_user(self.manager).search([]))


@tagged("post_install", "-at_install", "ipai_ops")
class TestRuntimeFields(OpsCase):
    def test_create_refuses_runtime_fields(self):
        """A database name or container id given by hand would make the next
        destroy or build act on someone else's."""
        victim = self.env_prod.sudo()
        victim.write({"database_name": "oabcdef_1_1_victim", "container_id": "c" * 64, "state": "running"})
        Env = self.env["ops.environment"]
        for user in (self.users["developer"], self.users["owner"], self.manager):
            for values in ({"database_name": victim.database_name}, {"container_id": victim.container_id},
                           {"state": "running"}, {"db_role": "ops_x_e1"}, {"port": 8069},
                           {"previous_database_name": victim.database_name}):
                with self.subTest(user=user.login, values=values), \
                        self.assertRaisesRegex(AccessError, "can only be set by runs"):
                    Env.with_user(user).create(dict(values, project_id=self.project.id, branch="feature/evil"))
        self.assertFalse(Env.search([("branch", "=", "feature/evil")]))

    def test_two_environments_never_share_a_database_or_container(self):
        self.env_dev.sudo().write({"database_name": "oabcdef_9_9_shared", "container_id": "d" * 64})
        for values in ({"database_name": "oabcdef_9_9_shared"}, {"container_id": "d" * 64}):
            with self.subTest(values=values), self.assertRaises(errors.UniqueViolation), \
                    mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                self.env_staging.sudo().write(values)
                self.env_staging.flush_recordset()

    def test_credentials_are_per_environment_and_hidden(self):
        roles = {env._ops_db_credentials()[0] for env in (self.env_dev, self.env_staging, self.env_prod)}
        self.assertEqual(len(roles), 3, "one database role per environment")
        passwords = {env._ops_db_credentials()[1] for env in (self.env_dev, self.env_staging, self.env_prod)}
        self.assertEqual(len(passwords), 3)
        self.assertEqual(self.env_prod._ops_db_credentials(), self.env_prod._ops_db_credentials(), "stable")
        admin = self.env_prod._ops_admin_password()
        self.assertNotEqual(admin, "admin")
        self.assertGreaterEqual(len(admin), 20)
        for user in (self.users["owner"], self.manager):
            for field in ("db_password", "admin_password"):
                with self.subTest(user=user.login, field=field), self.assertRaises(AccessError):
                    self.env_prod.with_user(user).read([field])


@tagged("post_install", "-at_install", "ipai_ops")
class TestQueueGuards(OpsCase):
    def test_kinds_without_an_executor_are_refused(self):
        for kind in ("test", "clone", "../x"):
            with self.subTest(kind=kind), self.assertRaisesRegex(ValidationError, "Kinds that run: .*build"):
                self.queue(environment_id=self.env_dev.id, kind=kind)

    def test_upgrade_kinds_only_through_the_project(self):
        for kind in ("upgrade_scan", "upgrade_preview", "upgrade"):
            with self.subTest(kind=kind), self.assertRaisesRegex(ValidationError, "Upgrade tab"):
                self.queue(user=self.users["owner"], environment_id=self.env_prod.id, kind=kind)

    def test_platform_config_keys_are_refused_from_callers(self):
        # core's own keys, and those of every addon's kinds (the backup addon's backup_id, import_path ...)
        keys = {"promote_environment_id", "image_digest", "upgrade_to"} | self.Run._ops_reserved_config()
        for key in sorted(keys):
            with self.subTest(key=key), self.assertRaisesRegex(ValidationError, "set by the platform"):
                self.queue(user=self.users["owner"], environment_id=self.env_prod.id, kind="deploy",
                           config={key: 1})

    def test_promotion_only_within_a_project(self):
        other = self.env["ops.project"].with_user(self.manager).create({"name": "Other", "repo_url": "/srv/git/o"})
        foreign = self.env["ops.environment"].with_user(self.manager).create(
            {"project_id": other.id, "branch": "release/9"})
        foreign.sudo().write({"state": "running", "image_digest": "sha256:" + "e" * 64})
        run = self.Run.browse(self.Run.sudo()._ops_queue({
            "project_id": self.project.id, "environment_id": self.env_prod.id, "kind": "deploy",
            "commit_sha": "a" * 40, "config": {"promote_environment_id": foreign.id,
                                               "image_digest": foreign.image_digest}}, trusted=True)["id"])
        with self.assertRaisesRegex(RunFailed, "another project"):
            run._executor_spec()


@tagged("post_install", "-at_install", "ipai_ops")
class TestLocalRepositories(OpsCase):
    def test_local_paths_only_under_allowed_roots(self):
        Project = self.env["ops.project"].with_user(self.manager)
        self.project.with_user(self.users["owner"]).write({"repo_url": "/srv/git/elsewhere.git"})
        for url in ("/etc", "file:///root/.ssh", "/srvx/git/r.git", "file:///var/lib/odoo/x.git"):
            with self.subTest(url=url), self.assertRaisesRegex(ValidationError, "not under a directory"):
                self.project.with_user(self.users["owner"]).write({"repo_url": url})
        with tempfile.TemporaryDirectory() as outside:
            # A symbolic link under an allowed root does not lead out of it.
            self.env.ref("ipai_ops_core.ops_host_local").repo_roots = "/srv\n%s/allowed" % outside
            os.makedirs(os.path.join(outside, "allowed"))
            os.symlink("/etc", os.path.join(outside, "allowed", "link"))
            with self.assertRaisesRegex(ValidationError, "not under a directory"):
                Project.create({"name": "Sneaky", "repo_url": "file://%s/allowed/link" % outside})
            fine = Project.create({"name": "Fine", "repo_url": "%s/allowed/repo.git" % outside})
            self.assertEqual(fine.repo_url, "%s/allowed/repo.git" % outside, "a path under an allowed root is kept")
        remote = Project.create({"name": "Remote", "repo_url": "https://git.example.com/o/r.git"})
        self.assertEqual(remote.repo_url, "https://git.example.com/o/r.git", "remote URLs need no root")
        with self.assertRaises(AccessError):
            self.env.ref("ipai_ops_core.ops_host_local").with_user(self.users["owner"]).write({"repo_roots": "/"})


@tagged("post_install", "-at_install", "ipai_ops")
class TestMigration(OpsCase):
    def test_environments_of_older_installations_record_their_shared_role(self):
        """18.0.1.1.0's post-migration: environments built before it keep the
        project's shared role until their next build, and say so."""
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations", "18.0.1.1.0",
                            "post-migrate.py")
        spec = importlib.util.spec_from_file_location("ipai_ops_core_post_migrate_18_0_1_1_0", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.env_prod.sudo().write({"database_name": "oabcdef_test_shop_main_3", "state": "running"})
        self.env.flush_all()
        module.migrate(self.env.cr, "18.0.1.0.0")
        self.env_prod.invalidate_recordset()
        ns = naming.namespace_for(self.env.cr.dbname)
        self.assertEqual(self.env_prod.db_role, "ops_%s_test_shop" % ns)
        self.assertIn("shares with the other environments", self.env_prod.message_ids[0].body)
        self.assertFalse(self.env_dev.db_role, "environments without a database have nothing to migrate")
        owners = guard.env_owners({"db_role": naming.env_role_name(ns, self.env_prod.id),
                                   "current": {"db_owner": self.env_prod.db_role}})
        self.assertIn(self.env_prod.db_role, owners, "its next build may drop the old database")

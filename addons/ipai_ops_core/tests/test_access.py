from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger
from psycopg2 import errors

from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestAccess(OpsCase):
    """Row-level security, checked as real users of each role."""

    def setUp(self):
        super().setUp()
        self.run = self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"])
        self.as_worker(self.run).append_run_log("secret log line")

    def test_outsider_finds_nothing_and_cannot_read(self):
        outsider = self.users["outsider"]
        for model in ("ops.project", "ops.environment", "ops.run", "ops.run.event", "ops.run.log",
                      "ops.project.member", "ops.branch.rule"):
            with self.subTest(model=model):
                self.assertFalse(self.env[model].with_user(outsider).search([]), "%s leaks" % model)
        with self.assertRaises(AccessError):
            self.project.with_user(outsider).read(["name"])
        with self.assertRaises(AccessError):
            self.run.with_user(outsider).read(["state"])
        with self.assertRaises(AccessError):
            self.env_dev.with_user(outsider).read(["url"])
        with self.assertRaises(AccessError):
            self.queue(user=outsider, environment_id=self.env_dev.id)
        with self.assertRaises(AccessError):
            self.Run.with_user(outsider).queue_run({"project": "test-shop", "kind": "build", "branch": "f/x"})

    def test_member_sees_only_their_projects(self):
        other = self.env["ops.project"].with_user(self.manager).create({"name": "Hidden", "repo_url": "/srv/h"})
        self.Run.with_user(self.manager).queue_run({"project": other.slug, "kind": "build", "branch": "f/z"})
        for role in ("owner", "admin", "tester", "developer", "viewer"):
            user = self.users[role]
            with self.subTest(role=role):
                self.assertEqual(self.env["ops.project"].with_user(user).search([]), self.project)
                self.assertEqual(self.env["ops.run"].with_user(user).search([]).project_id, self.project)
                self.assertEqual(self.env["ops.run.log"].with_user(user).search([]).message, "secret log line")
        self.assertIn(other, self.env["ops.project"].with_user(self.manager).search([]))

    def test_viewer_reads_but_cannot_queue(self):
        viewer = self.users["viewer"]
        self.assertEqual(self.run.with_user(viewer).state, "queued")
        for env in (self.env_dev, self.env_staging, self.env_prod):
            with self.subTest(stage=env.stage), self.assertRaisesRegex(AccessError, "role: viewer"):
                self.queue(user=viewer, environment_id=env.id)
        with self.assertRaises(AccessError):
            self.run.with_user(viewer).cancel_run()
        with self.assertRaises(AccessError):
            self.env_dev.with_user(viewer).action_rebuild()

    def test_role_matrix_per_stage(self):
        allowed = {
            "developer": {"development"},
            "tester": {"development", "staging"},
            "admin": {"development", "staging", "production"},
            "owner": {"development", "staging", "production"},
        }
        for role, stages in allowed.items():
            for env in (self.env_dev, self.env_staging, self.env_prod):
                with self.subTest(role=role, stage=env.stage):
                    if env.stage in stages:
                        self.assertEqual(self.queue(user=self.users[role], environment_id=env.id,
                                                    kind="deploy")["state"], "queued")
                    else:
                        with self.assertRaises(AccessError):
                            self.queue(user=self.users[role], environment_id=env.id, kind="deploy")

    def test_developer_cannot_deploy_production(self):
        dev = self.users["developer"]
        with self.assertRaisesRegex(AccessError, "may not run 'deploy' on production"):
            self.env_prod.with_user(dev).action_deploy()
        with self.assertRaises(AccessError):
            self.env["ops.environment"].with_user(dev).create({"project_id": self.project.id, "branch": "main2",
                                                              "stage": "production"})

    def test_settings_and_members_need_admin(self):
        for role in ("developer", "tester", "viewer"):
            user = self.users[role]
            with self.subTest(role=role):
                with self.assertRaises(AccessError):
                    self.project.with_user(user).write({"staging_slots": 5})
                with self.assertRaises(AccessError):
                    self.env["ops.project.member"].with_user(user).create(
                        {"project_id": self.project.id, "user_id": self.users["outsider"].id, "role": "owner"})
                with self.assertRaises(AccessError):
                    self.project.branch_rule_ids[:1].with_user(user).write({"stage": "production"})
        admin = self.users["admin"]
        self.project.with_user(admin).write({"staging_slots": 5})
        member = self.env["ops.project.member"].with_user(admin).create(
            {"project_id": self.project.id, "user_id": self.users["outsider"].id, "role": "viewer"})
        self.assertTrue(self.env["ops.project"].with_user(self.users["outsider"]).search([]))
        member.with_user(admin).unlink()
        self.assertFalse(self.env["ops.project"].with_user(self.users["outsider"]).search([]))

    def test_runtime_fields_are_not_writable_by_hand(self):
        with self.assertRaises(AccessError):
            self.env_dev.with_user(self.users["owner"]).write({"url": "http://evil.example.com"})
        with self.assertRaises(AccessError):
            self.project.with_user(self.users["owner"]).write({"run_sequence": 0})

    def test_worker_acts_without_menus(self):
        worker = self.worker
        self.assertTrue(self.Run.with_user(worker).claim_next_run("w-1"))
        menus = self.env["ir.ui.menu"].with_user(worker)._visible_menu_ids()
        root = self.env.ref("ipai_ops_core.menu_ops_root")
        self.assertNotIn(root.id, menus)
        self.assertIn(root.id, self.env["ir.ui.menu"].with_user(self.users["viewer"])._visible_menu_ids())

    def test_users_cannot_act_as_workers(self):
        for role in ("owner", "developer"):
            user = self.users[role]
            with self.subTest(role=role):
                with self.assertRaises(AccessError):
                    self.Run.with_user(user).claim_next_run("me")
                with self.assertRaises(AccessError):
                    self.run.with_user(user).complete_workflow_run(0)
                with self.assertRaises(AccessError):
                    self.run.with_user(user).append_run_log("forged")

    def test_nobody_edits_or_deletes_run_events(self):
        event = self.run.event_ids[:1]
        self.assertTrue(event)
        for user in (self.manager, self.users["owner"], self.worker):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    event.with_user(user).write({"message": "rewritten"})
                with self.assertRaises(AccessError):
                    event.with_user(user).unlink()
                with self.assertRaises(AccessError):
                    self.env["ops.run.event"].with_user(user).create(
                        {"run_id": self.run.id, "kind": "info", "message": "forged", "timestamp": "2020-01-01"})
        with self.assertRaises(AccessError):
            event.sudo().write({"message": "even superuser"})
        with self.assertRaisesRegex(AccessError, "append-only"):
            event.sudo().unlink()
        # Below the ORM too: the database refuses UPDATE and DELETE.
        for sql in ("UPDATE ops_run_event SET message = 'x' WHERE id = %s", "DELETE FROM ops_run_event WHERE id = %s"):
            with self.subTest(sql=sql), mute_logger("odoo.sql_db"), \
                    self.assertRaises(errors.InsufficientPrivilege), self.env.cr.savepoint():
                self.env.cr.execute(sql, [event.id])
        # And a run with an audit trail cannot be deleted.
        with self.assertRaises(UserError):
            self.run.sudo().unlink()

    def test_member_group_is_granted(self):
        plain = self.env["res.users"].create({"name": "Plain", "login": "t_plain",
                                              "groups_id": [Command.set([self.env.ref("base.group_user").id])]})
        self.env["ops.project.member"].with_user(self.manager).create(
            {"project_id": self.project.id, "user_id": plain.id, "role": "viewer"})
        self.assertTrue(plain.has_group("ipai_ops_core.group_ops_user"))

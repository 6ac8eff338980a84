from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger
from psycopg2 import IntegrityError

from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestProject(OpsCase):
    def test_default_branch_rules_map_stages(self):
        self.assertEqual(self.project.stage_for_branch("main"), "production")
        self.assertEqual(self.project.stage_for_branch("release/3.0"), "staging")
        self.assertEqual(self.project.stage_for_branch("feature/y"), "development")
        self.assertEqual((self.env_prod.stage, self.env_staging.stage, self.env_dev.stage),
                         ("production", "staging", "development"))
        # Rules are data: a project can map its own patterns, first match wins.
        self.project.with_user(self.users["owner"]).write({"branch_rule_ids": [
            (0, 0, {"sequence": 1, "pattern": "hotfix-*", "stage": "staging"})]})
        self.assertEqual(self.project.stage_for_branch("hotfix-42"), "staging")

    def test_creator_and_defaults(self):
        project = self.env["ops.project"].with_user(self.manager).create(
            {"name": "Brand New Shop", "repo_url": "git@example.com:o/r.git"})
        self.assertEqual(project.slug, "brand-new-shop")
        self.assertEqual(project.workspace_key, "brand-new-shop")
        self.assertEqual(project.member_ids.user_id, self.manager)
        self.assertEqual(project.member_ids.role, "owner")
        self.assertEqual(project.tool_id, self.env.ref("ipai_ops_core.ops_tool_odoo_18"))

    def test_invalid_project_values(self):
        Project = self.env["ops.project"].with_user(self.manager)
        with self.assertRaises(ValidationError):
            Project.create({"name": "x", "slug": "Bad Slug", "repo_url": "/srv/x"})
        with self.assertRaises(ValidationError):
            Project.create({"name": "x", "slug": "x", "repo_url": "ext::sh -c 'touch /tmp/p'"})
        with self.assertRaises(ValidationError):
            Project.create({"name": "x", "slug": "x", "repo_url": "/srv/x", "default_branch": "$(id)"})
        with self.assertRaises(ValidationError):
            Project.create({"name": "x", "slug": "x", "repo_url": "/srv/x", "modules_mode": "list",
                            "module_list": "sale, bad module"})

    def test_slug_and_workspace_key_unique(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env["ops.project"].with_user(self.manager).create(
                {"name": "dup", "slug": "test-shop", "repo_url": "/srv/x", "workspace_key": "other"})

    def test_one_production_per_project(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env["ops.environment"].with_user(self.manager).create(
                {"project_id": self.project.id, "branch": "prod2", "stage": "production"})
        # A destroyed production environment no longer counts.
        self.env_prod.sudo().state = "destroyed"
        self.env_prod.flush_recordset()
        other = self.env["ops.environment"].with_user(self.manager).create(
            {"project_id": self.project.id, "branch": "prod2", "stage": "production"})
        self.assertEqual(other.stage, "production")

    def test_hostile_branch_on_environment(self):
        for name in ("a;rm -rf /", "$(touch x)", "../../etc", "x" * 300, "a\nb"):
            with self.subTest(branch=name), self.assertRaises(ValidationError):
                self.env["ops.environment"].with_user(self.manager).create(
                    {"project_id": self.project.id, "branch": name})

    def test_environment_status_colours(self):
        env = self.env_dev.sudo()
        env.write({"state": "running", "last_result": "ok"})
        self.assertEqual(env.status_color, 10)
        env.write({"last_result": "warning"})
        self.assertEqual(env.status_color, 3)
        env.write({"last_result": "failed"})
        self.assertEqual(env.status_color, 1)

    def test_environment_buttons_queue_runs(self):
        dev = self.env_dev.with_user(self.users["developer"])
        action = dev.action_rebuild()
        run = self.env["ops.run"].browse(action["res_id"])
        self.assertEqual((run.kind, run.state, run.environment_id), ("build", "queued", self.env_dev))
        for method, kind in (("action_deploy", "deploy"), ("action_stop", "stop"), ("action_destroy", "destroy")):
            run = self.env["ops.run"].browse(getattr(dev, method)()["res_id"])
            self.assertEqual(run.kind, kind)
        self.assertIn("Destroy queued", dev.message_ids[0].body)

    def test_project_form_creates_with_onchange_slug(self):
        with Form(self.env["ops.project"].with_user(self.manager)) as form:
            form.name = "Form Made"
            form.repo_url = "/srv/git/form.git"
            self.assertEqual(form.slug, "form-made")
        self.assertTrue(form.record.branch_rule_ids)

    def test_project_stats(self):
        self.queue(environment_id=self.env_dev.id)
        self.project.invalidate_recordset()
        self.assertEqual(self.project.environment_count, 3)
        self.assertEqual(self.project.run_count, 1)
        self.assertEqual(self.project.with_user(self.users["tester"]).my_role, "tester")

    def test_docker_hosts(self):
        local = self.env.ref("ipai_ops_core.ops_host_local")
        self.assertEqual((local.name, local.docker_url), ("local", "unix:///var/run/docker.sock"))
        Host = self.env["ops.host"].with_user(self.manager)
        for url in ("http://x", "unix:///var/run/docker.sock; rm -rf /", "tcp://a b"):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                Host.create({"name": "build-2", "docker_url": url})
        with self.assertRaises(ValidationError):
            Host.create({"name": "Bad Name", "docker_url": "tcp://127.0.0.1:2376"})
        with self.assertRaises(AccessError):
            self.env["ops.host"].with_user(self.users["owner"]).create(
                {"name": "build-3", "docker_url": "tcp://127.0.0.1:2376"})

    def test_bulk_notification_says_what_happened(self):
        Env = self.env["ops.environment"].with_user(self.users["developer"])
        # A developer may not build production: nothing is queued, and the title says so.
        params = Env.browse(self.env_prod.id).action_bulk_rebuild()["params"]
        self.assertEqual((params["done"], len(params["refused"])), ([], 1))
        self.assertEqual((params["title"], params["type"], params["sticky"]), ("No rebuild queued", "warning", True))
        self.assertIn("Refused 1", params["message"])
        # Part of it: how much, as a warning.
        params = Env.browse((self.env_dev | self.env_prod).ids).action_bulk_rebuild()["params"]
        self.assertEqual((params["title"], params["type"]), ("Rebuild queued: 1 of 2", "warning"))
        # All of it: the plain title, a success.
        params = Env.browse(self.env_dev.ids).action_bulk_stop()["params"]
        self.assertEqual((params["title"], params["type"], params["sticky"]), ("Stop queued", "success", False))
        self.assertEqual(Env.browse().action_bulk_start()["params"]["title"], "Nothing selected")

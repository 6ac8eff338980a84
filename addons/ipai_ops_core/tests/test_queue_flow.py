"""Capacity and flow in the control plane's database: the order workers
claim runs in (production first, then the project with the fewest runs
going on), what a run and an environment say they wait for, the workers'
registry and the cron fallback that stays out of their way, the host's
slots and the memory it refuses to overcommit, hostnames nginx can serve."""

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..executors.base import RunFailed
from ..models.ops_host_capacity import auto_slots
from ..services import nginx_config
from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestFairQueue(OpsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.env["ops.project"].with_user(cls.manager).create({
            "name": "Other Shop", "slug": "other-shop", "repo_url": "/srv/git/other.git",
            "production_approval": False,
            "member_ids": [Command.create({"user_id": cls.users["admin"].id, "role": "admin"})]}).sudo(False)
        Env = cls.env["ops.environment"].with_user(cls.manager)
        cls.other_prod = Env.create({"project_id": cls.other.id, "branch": "main"})
        cls.other_dev = Env.create({"project_id": cls.other.id, "branch": "feature/y"})
        cls.project.sudo().production_approval = False

    def claim(self):
        claimed = self.as_worker().claim_next_run("w-%d" % len(self._claims))
        self._claims.append(claimed)
        return self.Run.browse(claimed["id"]) if claimed else None

    def setUp(self):
        super().setUp()
        self._claims = []

    def test_ten_builds_of_one_project_never_hold_back_another_projects_production(self):
        builds = [self.queue(environment_id=self.env_dev.id, idempotency_key="b%d" % i)["id"] for i in range(10)]
        first, second = self.claim(), self.claim()  # two slots, both taken by the busy project
        self.assertEqual([first.id, second.id], builds[:2])
        deploy = self.queue(project_id=self.other.id, environment_id=self.other_prod.id, kind="deploy")
        dev = self.queue(project_id=self.other.id, environment_id=self.other_dev.id)
        self.assertEqual(self.Run.browse(deploy["id"]).queue_note, "Next in line; no worker is running (the "
                         "queue's cron takes it within a minute)")
        # The next free slot goes to the other project's production deploy: it waits one build at most.
        self.assertEqual(self.claim().id, deploy["id"])
        # Then its development build, ahead of the eight left: its project has one run going on, the busy one two.
        self.assertEqual(self.claim().id, dev["id"])
        self.assertEqual(self.claim().id, builds[2])

    def test_production_and_rollbacks_first_then_priority_and_age(self):
        dev = self.queue(environment_id=self.env_dev.id)
        staging = self.queue(environment_id=self.env_staging.id, priority=50)
        prod = self.queue(environment_id=self.env_prod.id, kind="deploy")
        self.assertEqual([self.claim().id for _ in range(3)], [prod["id"], staging["id"], dev["id"]])

    def test_what_a_queued_run_and_its_environment_say(self):
        first = self.queue(environment_id=self.env_dev.id)
        second = self.queue(environment_id=self.env_staging.id)
        run = self.Run.browse(second["id"]).with_user(self.users["tester"])
        self.assertTrue(run.queue_note.startswith("2nd in line, behind %s" % self.Run.browse(first["id"]).display_name),
                        run.queue_note)
        self.assertIn("2nd in line", self.env_staging.with_user(self.users["tester"]).queue_note)
        # Another project's run ahead is not named to someone who may not see it.
        other = self.queue(project_id=self.other.id, environment_id=self.other_prod.id, kind="deploy")
        self.assertEqual(self.Run.browse(other["id"]).queue_note.split(";")[0], "Next in line")
        note = self.Run.browse(first["id"]).with_user(self.users["viewer"]).queue_note
        self.assertTrue(note.startswith("2nd in line, behind a run of another project"), note)
        # A claimed run whose worker went quiet says so, before the reaper decides.
        self.env["ops.worker"]._ops_beat("quiet-host", slots=1)
        claimed = self.as_worker().claim_next_run("quiet-host")
        self.env["ops.worker"].search([("name", "=", "quiet-host")]).write(
            {"last_seen_at": "2020-01-01 00:00:00"})
        self.assertIn("has not been seen for", self.Run.browse(claimed["id"]).queue_note)


@tagged("post_install", "-at_install", "ipai_ops")
class TestWorkersAndSlots(OpsCase):
    def test_the_cron_never_runs_a_build_while_a_worker_is_alive(self):
        queued = self.queue(environment_id=self.env_dev.id)
        self.env["ops.worker"]._ops_beat("busy-host-1", slots=3)
        self.assertEqual(self.Run._cron_process_queue(), 0)
        self.assertEqual(self.Run.browse(queued["id"]).state, "queued", "left to the worker")
        note = self.Run.browse(queued["id"]).queue_note
        self.assertTrue(note.startswith("Next in line"), note)
        self.env["ops.worker"]._ops_stopped("busy-host-1")
        self.assertFalse(self.env["ops.worker"]._ops_alive())

    def test_slots_follow_the_machine_unless_set(self):
        self.assertEqual(auto_slots(2, 24 * 1024), 3)
        self.assertEqual(auto_slots(16, 8 * 1024), 4, "memory caps them")
        self.assertEqual(auto_slots(1, 1024), 1)
        local = self.env.ref("ipai_ops_core.ops_host_local")
        local.capacity = 0
        self.assertGreaterEqual(local.slots, 1)
        local.capacity = 5
        self.assertEqual((local.slots, local._ops_slots()), (5, 5))
        self.assertIn("GB committed", local.memory_note)

    def test_an_environment_that_would_overcommit_the_host_is_refused(self):
        self.env_prod.sudo().write({"state": "running", "host": "local"})
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.memory_overcommit", "0.0001")
        local = self.env.ref("ipai_ops_core.ops_host_local")
        with self.assertRaisesRegex(RunFailed, r"cannot start .*Stop or destroy one first: .*%s" % self.env_prod.name):
            local._ops_check_memory(self.env_dev)
        local._ops_check_memory(self.env_prod)  # a running one replaces its own container
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.memory_overcommit", "1.5")
        local._ops_check_memory(self.env_dev)


@tagged("post_install", "-at_install", "ipai_ops")
class TestHostnames(OpsCase):
    def test_every_valid_name_is_served_and_longer_ones_refused_at_creation(self):
        label = "f" * 63
        env = self.env["ops.environment"].with_user(self.manager).create(
            {"project_id": self.project.id, "branch": "feature/" + label[8:]})
        self.assertEqual(env.hostname.split(".")[0], "feature-" + label[8:])
        self.assertEqual(len(env.hostname.split(".")[0]), 63)
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.base_domain", "d" * 60 + "." + "e" * 60 + ".test")
        slug = "s" * 63
        project = self.env["ops.project"].with_user(self.manager).create(
            {"name": "Long", "slug": slug, "repo_url": "/srv/git/long.git"})
        with self.assertRaisesRegex(ValidationError, "cannot be served: a hostname has at most 253 characters"):
            self.env["ops.environment"].with_user(self.manager).create(
                {"project_id": project.id, "branch": "feature/" + "x" * 70})

    def test_nginx_hash_sizes_fit_the_names(self):
        self.assertEqual(nginx_config.hash_sizes(["a.b"]), (64, 512))
        self.assertEqual(nginx_config.hash_sizes(["x" * 50]), (128, 512))
        self.assertEqual(nginx_config.hash_sizes(["x" * 253]), (512, 512))
        self.assertEqual(nginx_config.hash_sizes(["n%d" % i for i in range(300)])[1], 2048)

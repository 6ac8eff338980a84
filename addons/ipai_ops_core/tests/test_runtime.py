from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..executors.cutover import runtime_args
from ..models.ops_environment_runtime import default_runtime
from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestRuntimeSettings(OpsCase):
    def test_defaults_follow_the_stage_and_the_container(self):
        self.assertEqual(default_runtime("production", 1.0, 2048)["workers"], 3, "2 x CPUs + 1")
        self.assertEqual(default_runtime("production", 4.0, 2048)["workers"], 5, "as far as memory allows")
        self.assertEqual(default_runtime("staging", 0.5, 512)["workers"], 2, "prefork needs at least two")
        dev = default_runtime("development", 2.0, 4096)
        self.assertEqual((dev["workers"], dev["cron_threads"]), (0, 0))
        self.assertIn("prefork, 3 HTTP workers, 1 cron workers", self.env_prod.effective_runtime)
        self.assertIn("one threaded process", self.env_dev.effective_runtime)

    def test_admins_change_them_and_the_spec_carries_them(self):
        for role in ("developer", "tester"):
            with self.subTest(role=role), self.assertRaises(AccessError):
                self.env_dev.with_user(self.users[role]).write({"workers": 4})
        self.env_prod.with_user(self.users["admin"]).write({"workers": 5, "limit_time_real": 300})
        self.assertIn("prefork, 5 HTTP workers", self.env_prod.effective_runtime)
        with self.assertRaises(ValidationError):
            self.env_prod.with_user(self.users["admin"]).write({"limit_memory_soft_mb": 9000})
        args = runtime_args({"runtime": self.env_prod._ops_runtime()})
        # Its own network namespace: the websocket on the same port in every container.
        self.assertEqual(args[:8], ["--proxy-mode", "--workers", "5", "--max-cron-threads", "1", "--gevent-port",
                                    "8072", "--limit-memory-soft"])
        self.assertIn("300", args)

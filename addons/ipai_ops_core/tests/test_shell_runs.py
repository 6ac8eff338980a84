from datetime import timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestShellRuns(OpsCase):
    def open_run(self, env):
        return self.env["ops.run"].sudo()._ops_shell_run(env, {"token_sha256": "0" * 64, "expires": 0,
                                                                "login": "t_admin"})

    def test_an_unclaimed_session_is_reaped_without_turning_the_environment_red(self):
        self.env_dev.sudo().write({"last_result": "ok"})
        run = self.open_run(self.env_dev)
        self.assertEqual((run.kind, run.state, run.max_attempts), ("shell", "running", 1))
        run.sudo().heartbeat_at = run.heartbeat_at - timedelta(hours=1)
        self.env["ops.run"]._cron_reap_stale_runs()
        self.assertEqual(run.state, "failed", "never requeued: no worker executes a shell")
        self.assertEqual(self.env_dev.last_result, "ok")

    def test_a_token_is_refused_expired_or_wrong_and_shells_are_not_queued(self):
        run = self.open_run(self.env_dev)
        with self.assertRaises(AccessError):
            run._ops_shell_claim("anything")
        with self.assertRaisesRegex(Exception, "cannot be queued"):
            self.queue(kind="shell", environment_id=self.env_dev.id)
        with self.assertRaisesRegex(UserError, "not running"):
            self.env_dev.with_user(self.users["developer"]).shell_open()

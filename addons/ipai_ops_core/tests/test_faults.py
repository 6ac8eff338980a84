"""The run engine under faults, in one transaction: attempts, artifacts of a
retried attempt, reserved ports, malformed arguments."""

from datetime import timedelta

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestAttempts(OpsCase):
    def _claim(self, worker_id):
        claimed = self.as_worker().claim_next_run(worker_id)
        run = self.as_worker(self.Run.browse(claimed["id"]))
        run.start_workflow_run(worker_id)
        return run

    def test_each_attempt_is_recorded_and_a_retry_replaces_artifacts(self):
        queued = self.queue(environment_id=self.env_dev.id, max_attempts=3)
        run = self._claim("w-lost")
        run.add_run_artifact("image", "ipai-ops/test-shop:attempt-1")
        # The worker dies: its heartbeat gets old, the reaper requeues the run.
        run.sudo().write({"heartbeat_at": run.heartbeat_at - timedelta(hours=1)})
        self.assertEqual(self.Run._cron_reap_stale_runs(), 1)
        self.assertEqual((run.state, run.attempt), ("queued", 2))
        run = self._claim("w-second")
        self.assertEqual(run.id, queued["id"])
        run._ops_forget_earlier_attempts()
        self.assertFalse(run.artifact_ids.filtered(lambda a: a.key == "image"), "attempt 1's image is gone")
        run.add_run_artifact("image", "ipai-ops/test-shop:attempt-2a")
        run.add_run_artifact("image", "ipai-ops/test-shop:attempt-2b")  # recorded again: replaced, no error
        self.assertEqual(run.artifact_ids.filtered(lambda a: a.key == "image").location,
                         "ipai-ops/test-shop:attempt-2b")
        run.complete_workflow_run(0, False, "w-second")
        attempts = run.attempt_ids.sorted("number")
        self.assertEqual([(a.number, a.worker_id, a.outcome) for a in attempts],
                         [(1, "w-lost", "lost"), (2, "w-second", "succeeded")])
        self.assertIn("stopped sending heartbeats", attempts[0].reason)
        self.assertTrue(all(a.started_at and a.finished_at for a in attempts))
        self.assertLessEqual(attempts[0].finished_at, attempts[1].started_at)

    def test_the_last_attempt_fails_the_run(self):
        self.queue(environment_id=self.env_dev.id, max_attempts=1)
        run = self._claim("w-only")
        run.sudo().write({"heartbeat_at": run.heartbeat_at - timedelta(hours=1)})
        self.Run._cron_reap_stale_runs()
        self.assertEqual(run.state, "failed")
        self.assertEqual(run.attempt_ids.outcome, "lost")


@tagged("post_install", "-at_install", "ipai_ops")
class TestMalformedArguments(OpsCase):
    def test_clear_errors_naming_the_argument(self):
        Run = self.Run.with_user(self.users["owner"])
        cases = [
            (lambda: Run.queue_run({"project_id": self.project.id, "kind": "build", "environment_id": "abc"}),
             ValidationError, "environment_id must be the id of a record"),
            (lambda: Run.queue_run({"project_id": self.project.id, "kind": "build", "workflow_id": [1]}),
             ValidationError, "Unknown queue_run values: workflow_id"),
            (lambda: Run.queue_run({"project_id": self.project.id, "kind": ["build"]}),
             ValidationError, "cannot be queued"),
            (lambda: Run.list_queued_runs("all"), ValidationError, "limit must be an integer"),
            (lambda: Run.list_queued_runs(10, "build"), ValidationError, "kinds must be a list"),
            (lambda: Run.browse(["abc"]).cancel_run(), ValidationError, "Run ids are positive integers"),
            (lambda: Run.browse([999999999]).retry_run(), UserError, "No run with id 999999999"),
            (lambda: self.as_worker().browse([999999999]).heartbeat("w"), UserError, "No run with id"),
            (lambda: self.env["ops.environment"].with_user(self.users["owner"]).browse(["x"]).action_rebuild(),
             ValidationError, "Environment ids are positive integers"),
        ]
        for call, error, text in cases:
            # the error speaks the caller's language: Odoo finds it (no "no translation language detected")
            with self.subTest(text=text), self.assertNoLogs("odoo.tools.translate", "WARNING"), \
                    self.assertRaisesRegex(error, text):
                call()

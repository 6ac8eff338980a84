import os
import tempfile
from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..models import durations
from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestRunQueue(OpsCase):
    def test_numbers_are_per_project_and_gap_free(self):
        numbers = [self.queue(environment_id=self.env_dev.id)["number"] for _ in range(3)]
        self.assertEqual(numbers, [1, 2, 3])
        other = self.env["ops.project"].with_user(self.manager).create({"name": "Other", "repo_url": "/srv/o"})
        self.assertEqual(self.Run.with_user(self.manager).queue_run(
            {"project": "other", "kind": "build", "branch": "feature/a"})["number"], 1)
        # An idempotent replay gives no number away.
        self.queue(environment_id=self.env_dev.id, idempotency_key="k1")
        self.queue(environment_id=self.env_dev.id, idempotency_key="k1")
        self.assertEqual(self.queue(environment_id=self.env_dev.id)["number"], 5)
        self.assertEqual(other.run_sequence, 1)

    def test_idempotency_key_returns_same_run(self):
        first = self.queue(environment_id=self.env_dev.id, idempotency_key="push:abc123")
        again = self.queue(environment_id=self.env_dev.id, idempotency_key="push:abc123")
        self.assertTrue(first["created"])
        self.assertFalse(again["created"])
        self.assertEqual(first["id"], again["id"])
        self.assertEqual(self.Run.search_count([("idempotency_key", "=", "push:abc123")]), 1)
        with self.assertRaises(UserError):
            self.queue(environment_id=self.env_dev.id, idempotency_key="push:abc123", kind="deploy")
        with self.assertRaises(ValidationError):
            self.queue(environment_id=self.env_dev.id, idempotency_key="has space")

    def test_queue_validates_input(self):
        bad_values = [
            {"kind": "rm -rf"},
            {"branch": "a;rm -rf /"},
            {"branch": "$(touch x)"},
            {"ref": "../../etc", "environment_id": self.env_dev.id},
            {"commit_sha": "not-a-sha", "environment_id": self.env_dev.id},
            {"priority": "high", "environment_id": self.env_dev.id},
            {"max_attempts": 0, "environment_id": self.env_dev.id},
            {"config": "x", "environment_id": self.env_dev.id},
            {"unexpected": 1},
        ]
        before = self.Run.search_count([])
        for values in bad_values:
            with self.subTest(values=values), self.assertRaises(ValidationError):
                self.queue(**values)
        self.assertEqual(self.Run.search_count([]), before, "nothing half made")
        self.assertFalse(self.env["ops.environment"].search([("branch", "like", "rm -rf")]))
        with self.assertRaises(UserError):
            self.Run.with_user(self.manager).queue_run({"project": "no-such-project", "kind": "build"})

    def test_branch_creates_environment_from_rules(self):
        run = self.queue(branch="feature/new-thing")
        env = self.env["ops.environment"].browse(run["environment_id"])
        self.assertEqual((env.branch, env.stage, run["stage"]), ("feature/new-thing", "development", "development"))
        self.assertEqual(self.queue(branch="feature/new-thing")["environment_id"], env.id)

    def test_claim_order_priority_then_oldest(self):
        low = self.queue(environment_id=self.env_dev.id, priority=1)
        old = self.queue(environment_id=self.env_dev.id)
        new = self.queue(environment_id=self.env_dev.id)
        high = self.queue(environment_id=self.env_dev.id, priority=50)
        listed = [r["id"] for r in self.as_worker().list_queued_runs()]
        self.assertEqual(listed, [high["id"], old["id"], new["id"], low["id"]])
        claimed = [self.as_worker().claim_next_run("w1")["id"] for _ in range(4)]
        self.assertEqual(claimed, listed)
        self.assertFalse(self.as_worker().claim_next_run("w1"))

    def test_claim_filters_kinds(self):
        build = self.queue(environment_id=self.env_dev.id)
        stop = self.queue(environment_id=self.env_dev.id, kind="stop")
        self.assertEqual(self.as_worker().claim_next_run("w1", ["stop"])["id"], stop["id"])
        self.assertEqual(self.as_worker().claim_next_run("w1", ["build", "deploy"])["id"], build["id"])
        other = self.env["ops.project"].with_user(self.manager).create({"name": "Other", "repo_url": "/srv/o"})
        mine = self.Run.with_user(self.manager).queue_run({"project": other.slug, "kind": "build", "branch": "f/a"})
        self.queue(environment_id=self.env_dev.id)
        self.assertEqual(self.as_worker().claim_next_run("w1", None, [other.slug])["id"], mine["id"])
        self.assertFalse(self.as_worker().claim_next_run("w1", None, [other.slug]))
        with self.assertRaises(ValidationError):
            self.as_worker().claim_next_run("w1", None, "other")
        with self.assertRaises(ValidationError):
            self.as_worker().claim_next_run("w1", ["nope"])
        with self.assertRaises(ValidationError):
            self.as_worker().claim_next_run("bad worker id; rm")

    def test_full_lifecycle_with_events_logs_and_result(self):
        queued = self.queue(environment_id=self.env_dev.id, commit_sha="3f9c2ab")
        claimed = self.as_worker().claim_next_run("worker-a")
        self.assertEqual((claimed["id"], claimed["state"], claimed["claimed_by"]),
                         (queued["id"], "claimed", "worker-a"))
        run = self.as_worker(self.Run.browse(claimed["id"]))
        run.start_workflow_run("worker-a")
        self.assertEqual(run.state, "running")
        written = run.append_run_log([
            "plain line",
            {"level": "WARNING", "message": "odoo.modules: field x has no label", "metadata": {"module": "x"}},
            {"level": "CRITICAL", "message": "boom"},
        ])
        self.assertEqual(written, 3)
        self.assertEqual(run.log_ids.mapped("level"), ["info", "warn", "error"])
        self.assertIn("boom", run.log_tail)
        self.assertEqual(run.heartbeat("worker-a"), {str(run.id): "running"})
        with self.assertRaises(UserError):
            run.complete_workflow_run(0, None, "worker-b")
        run.complete_workflow_run(0, None, "worker-a")
        self.assertEqual((run.state, run.result, run.exit_code), ("succeeded", "warning", 0))
        self.assertGreaterEqual(run.duration, 0.0)
        self.assertEqual(self.env_dev.last_run_id, run)
        self.assertEqual(self.env_dev.last_result, "warning")
        states = [(e.payload or {}).get("to") for e in run.event_ids if e.kind == "state"]
        self.assertEqual(states, ["queued", "claimed", "running", "succeeded"])
        stamps = run.event_ids.mapped("timestamp")
        self.assertEqual(len(set(stamps)), len(stamps), "events within one second stay distinct (microseconds)")
        self.assertEqual(len(run.event_ids[0].timestamp_us), 26)

    def test_failure_turns_environment_red(self):
        self.queue(environment_id=self.env_dev.id)
        run = self.as_worker(self.Run.browse(self.as_worker().claim_next_run("w")["id"]))
        run.start_workflow_run()
        run.complete_workflow_run(1, "2 tests failed")
        self.assertEqual((run.state, run.result, run.error_message), ("failed", "failed", "2 tests failed"))
        self.assertEqual(self.env_dev.last_result, "failed")
        self.assertEqual(self.env_dev.status_color, 1)
        self.assertIn("error", run.event_ids.mapped("kind"))

    def test_illegal_transitions_raise_clear_errors(self):
        queued = self.queue(environment_id=self.env_dev.id)
        run = self.as_worker(self.Run.browse(queued["id"]))
        with self.assertRaisesRegex(UserError, "cannot go from queued to running"):
            run.start_workflow_run()
        with self.assertRaisesRegex(UserError, "cannot go from queued to succeeded"):
            run.complete_workflow_run(0)
        run.cancel_run()
        with self.assertRaisesRegex(UserError, "canceled and cannot be canceled"):
            run.cancel_run()
        with self.assertRaises(UserError):
            run.approve_run()

    def test_state_is_only_changed_by_run_methods(self):
        run = self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"])
        for user in (self.manager, self.users["owner"], self.worker):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                run.with_user(user).write({"state": "succeeded"})
        with self.assertRaises(AccessError):
            self.Run.with_user(self.manager).create({"project_id": self.project.id, "kind": "build", "number": 99})
        # Managers may still adjust what is not part of the state machine.
        run.with_user(self.manager).write({"priority": 99})
        self.assertEqual(run.priority, 99)

    def test_cancel_and_retry(self):
        run = self.Run.browse(self.queue(environment_id=self.env_dev.id, commit_sha="abcdef1")["id"])
        run.with_user(self.users["developer"]).cancel_run()
        self.assertEqual(run.state, "canceled")
        new = run.with_user(self.users["developer"]).retry_run()
        new_run = self.Run.browse(new["id"])
        self.assertEqual((new_run.state, new_run.retry_of_id, new_run.commit_sha), ("queued", run, "abcdef1"))
        with self.assertRaises(UserError):
            new_run.retry_run()

    def test_running_run_learns_about_cancel_on_heartbeat(self):
        self.queue(environment_id=self.env_dev.id)
        run = self.as_worker(self.Run.browse(self.as_worker().claim_next_run("w")["id"]))
        run.start_workflow_run("w")
        run.with_user(self.users["developer"]).cancel_run()
        self.assertEqual(run.heartbeat("w"), {str(run.id): "canceled"})

    def test_production_approval(self):
        self.project.with_user(self.users["owner"]).production_approval = True
        data = self.queue(user=self.users["admin"], environment_id=self.env_prod.id, kind="deploy")
        self.assertEqual(data["state"], "waiting_approval")
        run = self.Run.browse(data["id"])
        self.assertFalse(self.as_worker().claim_next_run("w"), "not claimable before approval")
        for role in ("developer", "tester", "viewer"):
            with self.subTest(role=role), self.assertRaises(AccessError):
                run.with_user(self.users[role]).approve_run()
        run.with_user(self.users["owner"]).approve_run()
        self.assertEqual((run.state, run.approved_by_id), ("queued", self.users["owner"]))
        self.assertIn("Approved by t_owner", run.event_ids.mapped("message"))
        self.assertEqual(self.as_worker().claim_next_run("w")["id"], run.id)
        # Rejecting cancels; a developer can do neither.
        second = self.Run.browse(self.queue(user=self.users["admin"], environment_id=self.env_prod.id,
                                            kind="deploy")["id"])
        with self.assertRaises(AccessError):
            second.with_user(self.users["developer"]).reject_run()
        second.with_user(self.users["admin"]).reject_run()
        self.assertEqual(second.state, "canceled")
        self.assertIn("Rejected by t_admin", second.event_ids.mapped("message"))
        with self.assertRaises(UserError):
            second.with_user(self.users["admin"]).approve_run()
        # Staging does not need approval (backups of production neither: tested in the backup addon).
        self.assertEqual(self.queue(user=self.users["admin"], environment_id=self.env_staging.id)["state"], "queued")
        # A rollback is an emergency: an admin's runs at once.
        self.assertEqual(self.queue(user=self.users["admin"], environment_id=self.env_prod.id,
                                    kind="rollback")["state"], "queued")

    def test_reaper_requeues_then_fails(self):
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.heartbeat_timeout_seconds", "60")
        data = self.queue(environment_id=self.env_dev.id, max_attempts=2)
        run = self.Run.browse(data["id"])
        worker_run = self.as_worker(run)
        self.as_worker().claim_next_run("w-dead")
        worker_run.start_workflow_run("w-dead")
        stale = fields.Datetime.now() - timedelta(seconds=120)
        self.env.flush_all()
        self.env.cr.execute("UPDATE ops_run SET heartbeat_at = %s WHERE id = %s", [stale, run.id])
        run.invalidate_recordset()
        # A fresh run is left alone.
        fresh = self.Run.browse(self.queue(environment_id=self.env_dev.id, priority=-5)["id"])
        self.assertEqual(self.Run._cron_reap_stale_runs(), 1)
        self.assertEqual((run.state, run.attempt, run.claimed_by), ("queued", 2, False))
        self.assertIn("stopped sending heartbeats", run.event_ids[-1].message)
        self.assertEqual(self.as_worker().claim_next_run("w-dead-again")["id"], run.id)
        self.env.flush_all()
        self.env.cr.execute("UPDATE ops_run SET heartbeat_at = %s WHERE id = %s", [stale, run.id])
        run.invalidate_recordset()
        self.Run._cron_reap_stale_runs()
        self.assertEqual((run.state, run.result), ("failed", "failed"))
        self.assertIn("last attempt", run.error_message)
        self.assertEqual(fresh.state, "queued")

    def test_artifacts_and_expiry(self):
        run = self.as_worker(self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"]))
        root = tempfile.mkdtemp()
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.artifact_root", root)
        path = os.path.join(root, "build.log")
        with open(path, "w") as fh:
            fh.write("log")
        outside = tempfile.NamedTemporaryFile(delete=False)
        outside.close()
        past = fields.Datetime.to_string(fields.Datetime.now() - timedelta(days=1))
        run.add_run_artifact("build.log", path, "a" * 64, "text/plain", 3, past)
        run.add_run_artifact("outside", outside.name, None, None, 0, past)
        run.add_run_artifact("image", "ipai-ops/test-shop:abc", None, None, 0, None)
        with self.assertRaises(ValidationError):
            run.add_run_artifact("bad key;", "/x")
        with self.assertRaises(ValidationError):
            run.add_run_artifact("badsha", "/x", "XYZ")
        self.assertEqual(self.env["ops.run.artifact"]._cron_remove_expired(), 2)
        self.assertFalse(os.path.exists(path), "expired file under the artifact root is removed")
        self.assertTrue(os.path.exists(outside.name), "files outside the artifact root are never touched")
        os.unlink(outside.name)
        self.assertEqual(run.artifact_ids.mapped("key"), ["image"])

    def test_log_levels_and_limits(self):
        run = self.as_worker(self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"]))
        with self.assertRaises(ValidationError):
            run.append_run_log([{"level": "shouting", "message": "x"}])
        with self.assertRaises(ValidationError):
            run.append_run_log(42)
        run.append_run_log({"message": "x" * 100000})
        self.assertEqual(len(run.log_ids.message), 65536)
        # Text search over messages (uses the trigram index on large tables).
        run.append_run_log("needle in the haystack")
        self.assertEqual(self.env["ops.run.log"].search([("message", "ilike", "needle")]).run_id, run)

    def test_durations_read_as_people_say_them(self):
        self.assertEqual([durations.human(s) for s in (11.525, 200, 3720, False)],
                         ["11.5 s", "3 min 20 s", "1 h 02 min", ""])
        run = self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"])
        self.assertFalse(run.duration_display, "nothing until it ends")
        start = datetime(2026, 1, 5, 9, 0)
        for seconds, shown in ((11.525, "11.5 s"), (200, "3 min 20 s"), (3720, "1 h 02 min")):
            run.sudo().write({"started_at": start, "finished_at": start + timedelta(seconds=seconds)})
            self.assertAlmostEqual(run.duration, seconds, places=3, msg="the number stays, for the API")
            self.assertEqual(run.duration_display, shown)
            self.assertEqual(run._api_dict()["duration"], run.duration)

    def test_seen_before_only_when_an_earlier_run_met_the_error(self):
        ids = []
        for _ in range(2):
            self.queue(environment_id=self.env_dev.id)
            run = self.as_worker(self.Run.browse(self.as_worker().claim_next_run("w")["id"]))
            run.start_workflow_run()
            run.complete_workflow_run(1, "ImportError: no module x")
            self.env["ops.build.error"]._ops_record(run, {"fingerprint": "fp-seen-before", "summary": "no module x"})
            ids.append(run.id)
            runs = self.Run.with_user(self.users["developer"]).browse(ids)
            self.assertEqual(runs.build_error_id.count, len(ids))
            self.assertEqual(runs.mapped("build_error_seen_before"), [False, True][:len(ids)],
                             "the first occurrence is never 'seen before', the next one is")

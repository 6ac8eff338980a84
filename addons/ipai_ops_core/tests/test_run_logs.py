"""A run's log as the log viewer reads it (ops.run.logs): the newest lines
oldest first, filtered by level and literal text, followed from a cursor,
and only for who may read the run; each line at the time the worker said
it."""

from datetime import datetime

from freezegun import freeze_time
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..runtime.reporter import DbReporter
from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestRunLogs(OpsCase):
    def setUp(self):
        super().setUp()
        self.run = self.as_worker(self.Run.browse(self.queue(environment_id=self.env_dev.id)["id"]))
        self.run.append_run_log([
            {"level": "info", "message": "Installing 12 modules"},
            {"level": "warn", "message": "shop_sale: 100% of the _fields checked"},
            {"level": "error", "message": "Traceback (most recent call last):\n  File \"x.py\", line 1"},
        ])

    def logs(self, user=None, **kwargs):
        return self.Run.with_user(user or self.users["developer"]).browse(self.run.id).logs(**kwargs)

    def texts(self, answer):
        return [line["text"].split(None, 2)[2] for line in answer["lines"]]

    def test_lines_levels_and_literal_text(self):
        answer = self.logs()
        self.assertEqual([line["level"] for line in answer["lines"]], ["INFO", "WARNING", "ERROR"])
        self.assertTrue(answer["lines"][2]["text"].endswith('line 1'), "a multi-line message stays one line")
        self.assertEqual(self.texts(self.logs(level="warning")), [
            "shop_sale: 100% of the _fields checked", 'Traceback (most recent call last):\n  File "x.py", line 1'])
        self.assertEqual(len(self.logs(level="error")["lines"]), 1)
        # % and _ are the text itself, not LIKE's wildcards
        self.assertEqual(len(self.logs(grep="100% of the _f")["lines"]), 1)
        self.assertEqual(len(self.logs(grep="1_0")["lines"]), 0)
        self.assertEqual(self.texts(self.logs(limit=1)), ['Traceback (most recent call last):\n  File "x.py", line 1'],
                         "the newest lines")

    def test_following_from_a_cursor(self):
        first = self.logs(level="error")
        self.assertEqual(self.logs(after=first["cursor"])["lines"], [], "nothing new")
        self.run.append_run_log(["Running tests", {"level": "error", "message": "1 failed"}])
        new = self.logs(after=first["cursor"], level="error")
        self.assertEqual(self.texts(new), ["1 failed"], "only what was written since, filtered")
        self.assertEqual(self.logs(after=new["cursor"])["lines"], [])

    def test_who_may_read_and_bad_arguments(self):
        with self.assertRaises(AccessError):
            self.logs(user=self.users["outsider"])
        for bad in ({"level": "shouting"}, {"limit": 0}, {"limit": True}, {"after": -1}, {"after": "x"},
                    {"grep": 42}, {"until": "yesterday-ish"}):
            with self.assertNoLogs("odoo.tools.translate", "WARNING"), self.assertRaises(ValidationError, msg=bad):
                self.logs(**bad)  # the error in the caller's language

    def test_a_worker_s_line_keeps_the_time_it_was_said(self):
        """The worker's reporter writes its lines in batches: a line said
        before a silent step (an image copied, a container stopping) keeps
        its own time, not the time of the batch that carried it."""
        reporter = DbReporter(self.registry, self.run.id, "test-worker", flush_seconds=float("inf"))  # one batch
        with freeze_time("2026-12-05 10:00:00.250000"):
            reporter.log("info", "Maintenance page up")
        with freeze_time("2026-12-05 10:00:06"):
            reporter.log("info", "Copied the database")
            reporter.flush()
        lines = self.env["ops.run.log"].search([("run_id", "=", self.run.id)])
        times = {line.message: line.timestamp for line in lines}
        self.assertEqual(times["Maintenance page up"], datetime(2026, 12, 5, 10, 0, 0, 250000))
        self.assertEqual(times["Copied the database"], datetime(2026, 12, 5, 10, 0, 6))

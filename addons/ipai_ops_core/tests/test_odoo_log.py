from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..services import odoo_log

OK = [
    "2026-11-24 00:39:46,771 1 INFO ? odoo: Odoo version 18.0 ",
    "2026-11-24 00:40:12,497 1 INFO db odoo.addons.x.tests.test_x: Starting TestX.test_a ... ",
    "2026-11-24 00:40:21,736 1 INFO db odoo.tests.result: 0 failed, 0 error(s) of 1 tests when loading database 'db'",
]
FAILED = [
    "2026-11-24 00:40:12,497 1 ERROR db odoo.addons.x.tests.test_x: FAIL: TestX.test_a",
    "Traceback (most recent call last):",
    "AssertionError: 'a' != 'b'",
    "2026-11-24 00:40:21,736 1 ERROR db odoo.tests.result: 1 failed, 0 error(s) of 1 tests when loading database 'db'",
]


@tagged("post_install", "-at_install", "ipai_ops")
class TestOdooLog(BaseCase):
    def feed(self, lines):
        summary = odoo_log.LogSummary()
        return summary, [summary.feed(line) for line in lines]

    def test_clean_install_is_ok(self):
        summary, levels = self.feed(OK)
        self.assertEqual(levels, ["info", "info", "info"])
        self.assertEqual(summary.tests, (0, 0, 1))
        self.assertEqual(summary.outcome(0), "ok")

    def test_failed_test_is_red_and_tracebacks_keep_their_level(self):
        summary, levels = self.feed(FAILED)
        self.assertEqual(levels, ["error", "error", "error", "error"])
        self.assertEqual(summary.tests, (1, 0, 1))
        self.assertEqual(summary.outcome(1), "failed")

    def test_warnings_are_yellow_and_root_notice_is_noise(self):
        summary, levels = self.feed(OK + [
            "2026-11-24 00:40:21,736 1 WARNING db odoo.models: Field x.y has no string",
            "2026-11-24 00:40:21,736 1 WARNING ? odoo: Running as user 'root' is a security risk.",
        ])
        self.assertEqual(levels[-2:], ["warn", "info"])
        self.assertEqual(summary.outcome(0), "warning")

    def test_non_zero_exit_without_tests_fails(self):
        summary, _levels = self.feed(OK[:1])
        self.assertEqual(summary.outcome(255), "failed")

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

    def test_the_cause_names_the_test_its_assertion_and_where_and_groups_across_runs(self):
        lines = [
            "2026-11-26 06:00:00,000 7 INFO db odoo.modules.loading: loading 1 modules...",
            "2026-11-26 06:00:01,000 7 ERROR db odoo.addons.shop.tests.test_sale: FAIL: TestSale.test_total",
            "Traceback (most recent call last):",
            '  File "/mnt/extra-addons/shop/tests/test_sale.py", line 12, in test_total',
            "    self.assertEqual(order.amount_total, 100)",
            "AssertionError: 90.0 != 100",
            "2026-11-26 06:00:02,000 7 INFO db odoo.tests.result: 1 failed, 0 error(s) of 4 tests when loading "
            "database 'o1_2_3_shop_main'",
        ]
        summary, _levels = self.feed(lines)
        self.assertEqual(summary.cause(), ": TestSale.test_total failed: AssertionError: 90.0 != 100 "
                                          "(at shop/tests/test_sale.py:12)")
        # The same failure on another database, later, a few lines further down the file.
        other, _levels = self.feed([line.replace("o1_2_3", "o9_8_7").replace("line 12", "line 14")
                                    .replace("06:00", "07:00") for line in lines])
        self.assertEqual(other.detail()["fingerprint"], summary.detail()["fingerprint"])
        self.assertEqual(summary.detail()["addon"], "shop")
        # Another test failing is another error (numbers in messages are not: ids and amounts vary).
        third, _levels = self.feed([line.replace("test_total", "test_tax") for line in lines])
        self.assertNotEqual(third.detail()["fingerprint"], summary.detail()["fingerprint"])

    def test_a_crash_outside_tests_names_the_exception_and_the_addon_file(self):
        summary, _levels = self.feed([
            "2026-11-26 06:00:01,000 7 CRITICAL db odoo.service.server: Failed to initialize database `db`.",
            "Traceback (most recent call last):",
            '  File "/opt/odoo/odoo/modules/loading.py", line 200, in load_module_graph',
            '  File "/mnt/extra-addons/shop/models/sale.py", line 3',
            "    def broken(:",
            "               ^",
            "SyntaxError: invalid syntax",
        ])
        self.assertEqual(summary.cause(), ": SyntaxError: invalid syntax (raised in shop/models/sale.py:3)")
        self.assertIsNone(self.feed(OK)[0].detail(), "nothing broke: nothing to group")


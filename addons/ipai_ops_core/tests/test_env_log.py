import os
import shutil
import tempfile

from odoo.tests import tagged
from odoo.tests.common import BaseCase, TransactionCase

from ..services import env_log


def record(second, level, message, minute=0):
    return "2026-11-26 08:%02d:%02d,123 7 %s db odoo.addons.x: %s\n" % (minute, second, level, message)


@tagged("post_install", "-at_install", "ipai_ops")
class TestEnvLog(BaseCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(prefix="ipai-ops-envlog-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.live_dir = os.path.join(self.root, "env", "logs")
        os.makedirs(self.live_dir)
        self.store = os.path.join(self.root, "store")

    def write(self, *lines):  # pylint: disable=method-required-super  # a log writer, not a model
        """As Odoo's WatchedFileHandler does: append, recreate when moved away."""
        with open(os.path.join(self.live_dir, "odoo.log"), "a") as handle:
            handle.write("".join(lines))

    def texts(self, answer):
        return [line["text"] for line in answer["lines"]]

    def test_tail_levels_and_text_filter(self):
        log = env_log.EnvLog(self.live_dir, self.store)
        self.write(record(1, "INFO", "Sale_Order 100% confirmed"), record(2, "ERROR", "boom"),
                   "Traceback (most recent call last):\n", "ValueError: bad value\n", record(3, "INFO", "after"))
        self.assertEqual(log.sync(), 5)
        self.assertEqual(log.sync(), 0, "a line is indexed once")
        tail = log.read(limit=2)
        self.assertEqual(self.texts(tail), ["ValueError: bad value", record(3, "INFO", "after").rstrip("\n")])
        errors = log.read(min_level=40)
        self.assertEqual([line["level"] for line in errors["lines"]], ["ERROR"] * 3,
                         "the lines of a traceback keep the level of their record")
        self.assertTrue(self.texts(errors)[2].startswith("ValueError"))
        self.assertEqual(len(log.read(grep="sale_order")["lines"]), 1, "case-insensitive")
        self.assertEqual(len(log.read(grep="100%")["lines"]), 1, "literal, % is no wildcard")
        self.assertEqual(log.read(grep="1_0")["lines"], [], "literal, _ is no wildcard")
        self.assertEqual(len(log.read(grep="om")["lines"]), 1, "two characters: no trigram, still found")
        self.assertEqual(log.read(grep="'; DROP TABLE line; --")["lines"], [])
        self.assertEqual(log.read(min_level=30, grep="after")["lines"], [])

    def test_rotation_keeps_lines_and_cursor_never_repeats(self):
        log = env_log.EnvLog(self.live_dir, self.store, max_bytes=1024, keep=2)
        follow = log.read()["cursor"]
        seen = []
        for batch in range(6):
            self.write(*[record(i, "INFO", "batch %d line %d %s" % (batch, i, "x" * 40)) for i in range(12)])
            log.sync()
            answer = log.read(after=follow, limit=1000)
            seen += self.texts(answer)
            follow = answer["cursor"]
        self.assertEqual(len(seen), 72, "each line followed exactly once across rotations")
        self.assertEqual(len(set(seen)), 72)
        rotated = [name for name in os.listdir(self.store) if name.endswith(".log")]
        self.assertEqual(len(rotated), 2, "keep=2 rotated segments")
        kept = self.texts(log.read(limit=1000))
        self.assertIn(seen[-1], kept)
        self.assertNotIn(seen[0], kept, "the oldest segments were dropped")
        self.assertTrue(any("batch 4" in text for text in kept), "a rotated segment is still searchable")

    def test_late_write_to_rotated_file(self):
        log = env_log.EnvLog(self.live_dir, self.store, max_bytes=1024)
        path = os.path.join(self.live_dir, "odoo.log")
        handle = open(path, "a")  # a worker holding the file while it is moved away
        self.addCleanup(handle.close)
        handle.write("".join(record(i, "INFO", "y" * 100) for i in range(12)))
        handle.flush()
        log.sync()
        self.assertFalse(os.path.exists(path), "rotated")
        handle.write(record(59, "WARNING", "written after the move"))
        handle.flush()
        log.sync()
        self.assertEqual(self.texts(log.read(limit=1))[0], record(59, "WARNING", "written after the move").strip())

    def test_time_window(self):
        log = env_log.EnvLog(self.live_dir, self.store)
        self.write(*[record(0, "INFO", "minute %d" % minute, minute=minute) for minute in range(10)])
        log.sync()
        since = env_log.parse_since("2026-11-26 08:03")
        until = env_log.parse_since("2026-11-26 08:05:00")
        self.assertEqual([text.rsplit(" ", 1)[1] for text in self.texts(log.read(since=since, until=until))],
                         ["3", "4", "5"])
        self.assertEqual(log.read(since=env_log.parse_since("2026-11-27"))["lines"], [])

    def test_links_planted_by_the_environment_are_not_followed(self):
        secret = os.path.join(self.root, "secret")
        with open(secret, "w") as handle:
            handle.write(record(1, "INFO", "host secret"))
        os.symlink(secret, os.path.join(self.live_dir, "odoo.log"))
        log = env_log.EnvLog(self.live_dir, self.store)
        log.sync()
        self.assertEqual(log.read()["lines"], [])
        self.assertEqual(log.tail(), [])
        os.unlink(os.path.join(self.live_dir, "odoo.log"))
        os.rmdir(self.live_dir)
        os.symlink(self.root, self.live_dir)  # the whole directory as a link
        shutil.copy(secret, os.path.join(self.root, "odoo.log"))
        log.sync()
        self.assertEqual(log.read()["lines"], [])

    def test_since_and_cursor_inputs(self):
        now = 1_800_000_000
        self.assertEqual(env_log.parse_since("10m", now), now - 600)
        self.assertEqual(env_log.parse_since("2h", now), now - 7200)
        self.assertEqual(env_log.parse_since("2026-11-26T08:30:00"), 1795681800)
        for bad in ("", "10", "-5m", "10 minutes", "yesterday", "2026-13-40", "1m; rm -rf /", "9" * 50 + "m"):
            with self.assertRaises(ValueError, msg=bad):
                env_log.parse_since(bad, now)
        log = env_log.EnvLog(self.live_dir, self.store)
        for bad in ("x", "1:", "1:2:3", "-1:5", "1:" + "9" * 40):
            with self.assertRaises(ValueError, msg=bad):
                log.read(after=bad)


@tagged("post_install", "-at_install", "ipai_ops")
class TestLogsTab(TransactionCase):
    def test_the_logs_tab_is_in_the_backend_bundle(self):
        """The OWL component compiles into the backend's assets and the
        environment form shows it on a tab of its own."""
        bundle = self.env["ir.qweb"]._get_asset_bundle("web.assets_backend", css=False, js=True)
        source = bundle.js().raw.decode()
        self.assertIn('registry.category("view_widgets").add("ops_env_logs"', source)
        self.assertIn("ipai_ops_core.EnvLogs", source)
        self.assertNotIn("Could not get content", source)
        arch = self.env["ops.environment"].get_view(view_type="form")["arch"]
        self.assertIn('<widget name="ops_env_logs"', arch)

    def test_the_web_terminal_is_in_the_backend_bundle(self):
        """The terminal action is registered; xterm.js is vendored and loaded
        on demand, not shipped in every backend page."""
        bundle = self.env["ir.qweb"]._get_asset_bundle("web.assets_backend", css=False, js=True)
        source = bundle.js().raw.decode()
        self.assertIn('registry.category("actions").add("ipai_ops_core.env_terminal"', source)
        self.assertNotIn("xterm-helper-textarea", source)  # a string of xterm.js itself
        lib = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static", "lib", "xterm")
        for name in ("xterm.js", "xterm.css", "addon-fit.js", "LICENSE"):
            self.assertTrue(os.path.getsize(os.path.join(lib, name)) > 0, name)

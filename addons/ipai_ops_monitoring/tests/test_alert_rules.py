import http.server
import threading
from datetime import timedelta

from odoo import fields
from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged


class Failing(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self):  # noqa: N802 - the stdlib's name
        Failing.hits += 1
        self.send_response(500)
        self.end_headers()

    def log_message(self, *_args):
        pass


@tagged("post_install", "-at_install", "ipai_ops")
class TestAlertRules(OpsCase):
    def rule(self, user=None, **values):
        values.setdefault("name", "r")
        values.setdefault("project_id", self.project.id)
        return self.env["ops.alert.rule"].with_user(user or self.users["admin"]).create(values)

    def test_bad_definitions_are_refused_with_their_reason(self):
        for values, message in (
                ({"kind": "log", "pattern": "(unclosed"}, "not a valid regular expression"),
                ({"kind": "metric", "metric": "cpu_pct", "for_minutes": -5}, "'for' is 1 to 1440 minutes"),
                ({"kind": "metric", "metric": "cpu_pct", "repeat_minutes": -1}, "cannot be negative"),
                ({"kind": "run"}, "needs the kind of run")):
            with self.assertRaisesRegex(ValidationError, message):
                self.rule(**values)
        with self.assertRaises(ValueError):
            self.rule(kind="metric", metric="no_such_metric")
        for url in ("ftp://example.com/x", "javascript:alert(1)", "http://"):
            with self.assertRaisesRegex(ValidationError, "http:// or https://"):
                self.env["ops.alert.channel"].with_user(self.users["admin"]).create(
                    {"name": "c", "project_id": self.project.id, "kind": "webhook", "url": url})

    def test_who_manages_rules(self):
        self.rule(kind="metric", metric="cpu_pct", threshold=90)
        for role in ("developer", "tester"):
            with self.assertRaises(AccessError):
                self.rule(self.users[role], kind="metric", metric="cpu_pct", threshold=90)
        with self.assertRaises(AccessError):
            self.rule(self.users["admin"], project_id=False, kind="metric", metric="cpu_pct", threshold=90)
        self.rule(self.manager, project_id=False, kind="metric", metric="cpu_pct", threshold=90)
        shipped = self.env.ref("ipai_ops_monitoring.rule_environment_down")
        self.assertTrue(shipped.with_user(self.users["viewer"]).read(["name"]))
        with self.assertRaises(AccessError):
            shipped.with_user(self.users["admin"]).write({"threshold": 5})

    def test_a_dead_receiver_is_retried_then_marked_failed(self):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.shutdown)
        channel = self.env["ops.alert.channel"].create({
            "name": "dead", "project_id": self.project.id, "kind": "webhook",
            "url": "http://127.0.0.1:%d/" % httpd.server_address[1], "min_severity": "info"})
        rule = self.rule(self.manager, kind="metric", metric="cpu_pct", threshold=1)
        incident = self.env_prod.sudo()._ops_open_incident(rule, "cpu_pct = 99")
        delivery = incident.delivery_ids.filtered(lambda d: d.channel_id == channel)
        self.assertEqual((delivery.event, delivery.state), ("open", "pending"))
        for attempt in range(1, 7):
            delivery.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
            self.env["ops.incident"]._cron_deliver()
            self.assertEqual(delivery.attempts, attempt)
            self.assertEqual(delivery.last_status, "HTTP 500")
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(Failing.hits, 6)
        self.assertIn("failed after 6 attempts", incident.message_ids[0].body)
        self.assertTrue(incident.activity_ids, "the project's admins have something to do")

    def test_the_shipped_downtime_rule_waits_three_failing_minutes(self):
        """Environment down opens on the third consecutive minute whose health
        probe failed (not on two, nor on three with a success between) and
        resolves on the first minute that answers again."""
        rule = self.env.ref("ipai_ops_monitoring.rule_environment_down")
        start = fields.Datetime.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
        minute = iter(range(10))

        def collected(healthy):
            self.env["ops.metric.sample"]._ops_upsert(
                [{"environment_id": self.env_prod.id, "project_id": self.project.id,
                  "minute": start + timedelta(minutes=next(minute)), "health_ok": healthy}], ["health_ok"])
            self.env_prod._ops_evaluate_alerts(rule, {})
            return self.env["ops.incident"].search([("rule_id", "=", rule.id),
                                                     ("environment_id", "=", self.env_prod.id)])

        for healthy in (True, False, False, True, False, False):
            self.assertFalse(collected(healthy), "no three failing minutes in a row yet")
        incident = collected(False)
        self.assertEqual(incident.state, "open")
        self.assertEqual(incident.evidence.count("health_down = 1"), 3, incident.evidence)
        self.assertEqual(collected(False), incident, "still the same incident")
        collected(True)
        self.assertEqual(incident.state, "resolved")

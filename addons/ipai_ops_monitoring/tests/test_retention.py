from datetime import timedelta

from odoo import fields
from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.tests import tagged


@tagged("post_install", "-at_install", "ipai_ops")
class TestRetention(OpsCase):
    def sample(self, minute, **values):
        self.env["ops.metric.sample"]._ops_upsert(
            [dict(environment_id=self.env_prod.id, project_id=self.project.id, minute=minute, **values)],
            list(values))

    def test_minutes_roll_up_into_hours_and_old_rows_go(self):
        now = fields.Datetime.now().replace(second=0, microsecond=0)
        hour = now.replace(minute=0) - timedelta(hours=2)
        for offset, (req, p95, mem, ok) in enumerate(((10, 50.0, 100.0, True), (30, 80.0, 300.0, False),
                                                      (20, 20.0, 200.0, True))):
            self.sample(hour + timedelta(minutes=offset), requests=req, req_2xx=req, p95_ms=p95, mem_bytes=mem,
                        health_ok=ok, cpu_pct=10.0 * (offset + 1))
        self.sample(now, requests=5, health_ok=True)  # the current hour: not complete, not rolled up
        old = now - timedelta(days=15)
        self.sample(old, requests=1, health_ok=True)
        self.env["ops.metric.rollup"].create({"environment_id": self.env_prod.id, "project_id": self.project.id,
                                              "hour": now - timedelta(days=400), "requests": 9})
        # A sample written twice for the same minute keeps one row, the last figures
        self.sample(hour, requests=10, req_2xx=10, p95_ms=50.0, mem_bytes=100.0, health_ok=True, cpu_pct=10.0)
        result = self.env["ops.environment"]._cron_roll_up_metrics()
        self.assertEqual(result, {"samples_deleted": 1, "rollups_deleted": 1})
        rollups = self.env["ops.metric.rollup"].search([("environment_id", "=", self.env_prod.id)])
        by_hour = {r.hour: r for r in rollups}
        rolled = by_hour[hour]
        self.assertEqual((rolled.minutes, rolled.requests, rolled.req_2xx), (3, 60, 60))
        self.assertEqual((rolled.p95_ms, rolled.mem_bytes, rolled.cpu_pct), (80.0, 300.0, 20.0))
        self.assertEqual(rolled.health_failures, 1)
        self.assertNotIn(now.replace(minute=0), by_hour, "the hour in progress waits")
        self.assertIn(old.replace(minute=0), by_hour, "rolled up before its minutes went")
        self.assertFalse(self.env["ops.metric.sample"].search_count([("minute", "<", now - timedelta(days=14))]))
        # Rolled up again (more minutes came): the same row, updated
        self.sample(hour + timedelta(minutes=59), requests=40, req_2xx=40, health_ok=True)
        self.env["ops.environment"]._cron_roll_up_metrics()
        self.assertEqual(self.env["ops.metric.rollup"].search([("environment_id", "=", self.env_prod.id),
                                                               ("hour", "=", hour)]).requests, 100)

    def test_the_charts_get_incidents_as_markers(self):
        rule = self.env.ref("ipai_ops_monitoring.rule_environment_down")
        self.env_prod._ops_open_incident(rule, "health_down = 1")
        answer = self.env_prod.with_user(self.users["admin"]).metrics(since="1h", markers=True)
        self.assertEqual([m["kind"] for m in answer["markers"]], ["incident"])
        self.assertIn("Environment down", answer["markers"][0]["label"])
        with self.assertRaisesRegex(Exception, "may not run 'monitoring' on production"):
            self.env_prod.with_user(self.users["developer"]).metrics(since="1h", markers=True)

    def test_the_monitoring_tab_is_in_the_backend_bundle(self):
        bundle = self.env["ir.qweb"]._get_asset_bundle("web.assets_backend", css=False, js=True)
        source = bundle.js().raw.decode()
        self.assertIn('registry.category("view_widgets").add("ops_env_metrics"', source)
        self.assertIn('registry.category("fields").add("ops_sparkline"', source)
        arch = self.env["ops.environment"].get_view(view_type="form")["arch"]
        self.assertIn('<widget name="ops_env_metrics"', arch)

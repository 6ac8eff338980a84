"""The Monitoring tab in a real browser (an Odoo tour in Chromium), on
samples as the collector writes them: a lone sample is drawn as a point,
the axis spans the range asked for, and a container replaced by a deploy
(exit code 0) reads as a normal stop."""

from datetime import datetime, timedelta

from odoo.addons.ipai_ops_core.tests.common import OpsHttpCase
from odoo.tests import tagged


@tagged("post_install", "-at_install", "ipai_ops", "is_tour")
class TestMonitoringTour(OpsHttpCase):
    def test_the_charts_draw_what_was_measured(self):
        prod = self.env_prod.sudo()
        # Running, as a finished deploy leaves it (runtime fields are the runs': sudo here).
        prod.write({"state": "running", "database_name": "tour_prod", "container_id": "%064x" % prod.id})
        now = datetime.utcnow().replace(second=0, microsecond=0)
        Sample = self.env["ops.metric.sample"].sudo()
        base = {"environment_id": prod.id, "project_id": self.project.id}
        # One minute with requests (a lone latency point) between minutes without.
        for minutes_ago, values in ((20, {"cpu_pct": 3.0}), (15, {"cpu_pct": 4.0, "requests": 75, "req_2xx": 75,
                                                                 "p50_ms": 40.0, "p95_ms": 120.0, "p99_ms": 150.0}),
                                    (10, {"cpu_pct": 2.0})):
            Sample.create(dict(base, minute=now - timedelta(minutes=minutes_ago), **values))
        self.env["ops.container.event"].sudo().create({
            "environment_id": prod.id, "project_id": self.project.id, "at": now - timedelta(minutes=12),
            "action": "die", "exit_code": 0, "container_id": "%064x" % prod.id})
        self.start_tour("/odoo/action-ipai_ops_core.action_ops_environment/%d" % prod.id,
                        "ipai_ops_monitoring_charts", login="t_admin")

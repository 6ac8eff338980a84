"""Open incidents on the Ops overview, for who may see them."""

from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.tests import tagged


@tagged("post_install", "-at_install", "ipai_ops")
class TestOverviewIncidents(OpsCase):
    def test_open_incidents_show_after_what_fails(self):
        rule = self.env["ops.alert.rule"].with_user(self.users["admin"]).create({
            "name": "CPU high", "project_id": self.project.id, "kind": "metric", "metric": "cpu_pct", "threshold": 90})
        incident = self.env_prod.sudo()._ops_open_incident(rule, "cpu_pct = 99")
        with self.assertNoLogs("odoo.tools.translate", "WARNING"):  # every label in the user's language
            sections = self.env["ops.overview"].with_user(self.users["admin"]).get_overview()
        keys = [section["key"] for section in sections]
        self.assertEqual(keys.index("incidents"), keys.index("failing") + 1)
        shown = sections[keys.index("incidents")]
        self.assertEqual([item["id"] for item in shown["items"]], [incident.id])
        self.assertIn(self.env_prod.display_name, shown["items"][0]["detail"])
        outsider = self.env["ops.overview"].with_user(self.users["outsider"]).get_overview()
        self.assertEqual(outsider[keys.index("incidents")]["count"], 0, "another project's incidents stay hidden")
        incident.sudo()._ops_resolve("cpu_pct = 20")
        self.assertEqual(self.env["ops.overview"].with_user(self.users["admin"]).get_overview()[
            keys.index("incidents")]["count"], 0, "a resolved incident leaves the page")

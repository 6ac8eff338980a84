import re

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..services import code_scan, odoo_versions
from .common import OpsCase

# One line each advisory of a step must match (and a harmless one it must not).
SAMPLES = {
    "tree_to_list": ('<tree string="x">', '<list string="x">'),
    "group_operator": ('amount = fields.Float(group_operator="sum")', 'amount = fields.Float(aggregator="sum")'),
    "check_access_rights": ('self.check_access_rights("read")', 'self.check_access("read")'),
    "name_search_signature": ("def _name_search(self, name, args=None, operator='ilike'):",
                              "def _search_display_name(self, operator, value):"),
    "cron_numbercall": ('<field name="numbercall">-1</field>', '<field name="interval_number">1</field>'),
    "ustr": ("return ustr(value)", "return str(value)"),
    "sql_constraints": ('    _sql_constraints = [("a", "unique(a)", "m")]', '    _a = models.Constraint("unique(a)")'),
    "route_json": ('@http.route("/x", type="json")', '@http.route("/x", type="jsonrpc")'),
    "cr_uid_context": ("self._cr.execute(q)", "self.env.cr.execute(q)"),
    "read_group": ("self.read_group(domain, ['a'], ['b'])", "self._read_group(domain, ['b'])"),
    "user_groups_id": ('"groups_id": [Command.link(g)]', '"group_ids": [Command.link(g)]'),
}


@tagged("post_install", "-at_install", "ipai_ops")
class TestUpgradeAdvisor(OpsCase):
    def test_advisories_cover_both_steps_with_guides(self):
        Advisory = self.env["ops.upgrade.advisory"]
        steps = Advisory.search([("pattern", "!=", False), ("to_version", "in", ("18.0", "19.0"))])
        self.assertGreaterEqual(len(steps), 20, "at least 20 advisories with a pattern for 18.0 and 19.0")
        for advisory in steps:
            self.assertTrue(advisory.migration_guide and advisory.code, advisory.title)
            re.compile(advisory.pattern)
        by_code = {a.code: a for a in steps}
        for code, (hit, miss) in SAMPLES.items():
            regex = re.compile(by_code[code].pattern)
            self.assertTrue(regex.search(hit), "%s should match %r" % (code, hit))
            self.assertFalse(regex.search(miss), "%s should not match %r" % (code, miss))
        with self.assertRaises(ValidationError):
            Advisory.create({"code": "bad", "from_version": "18.0", "to_version": "19.0", "title": "bad",
                             "pattern": "(unclosed"})

    def test_project_builds_on_its_versions_tool(self):
        self.assertEqual(self.project.tool_id, self.env.ref("ipai_ops_core.ops_tool_odoo_18"))
        self.project.with_user(self.manager).odoo_version = "17.0"
        self.assertEqual(self.project.tool_id, self.env.ref("ipai_ops_core.ops_tool_odoo_17"))
        self.assertEqual(self.project.upgrade_target, "18.0")
        with self.assertRaises(ValidationError):
            self.project.with_user(self.manager).tool_id = self.env.ref("ipai_ops_core.ops_tool_odoo_19")
        spec = self.project.tool_id._ops_build_spec()
        self.assertEqual(spec["odoo_version"], "17.0")
        self.assertTrue(spec["source_dir"].endswith("odoo-17.0"), spec)

    def test_upgrade_path_goes_forward_one_major_at_a_time(self):
        self.assertEqual(odoo_versions.path("17.0", "19.0"), ["18.0", "19.0"])
        self.assertEqual(odoo_versions.next_version("19.0"), None)
        for bad in (("18.0", "17.0"), ("18.0", "18.0"), ("18.0", "20.0"), ("16.0", "17.0")):
            with self.assertRaises(ValueError):
                odoo_versions.path(*bad)
        self.assertEqual(odoo_versions.manifest_version("17.0", "1.2"), "17.0.1.2")
        self.assertEqual(odoo_versions.manifest_version("17.0", "17.0.3.0.0"), "17.0.3.0.0")

    def test_scan_is_queued_by_developers_only_and_goes_forward(self):
        run = self.project.with_user(self.users["developer"]).upgrade_scan("19.0")
        record = self.Run.browse(run["id"])
        self.assertEqual((record.kind, record.upgrade_to, record.state), ("upgrade_scan", "19.0", "queued"))
        self.assertEqual(record.ref, "main", "the code production runs")
        self.assertFalse(record.environment_id, "a scan touches no environment")
        for role in ("viewer", "outsider"):
            with self.assertRaises(AccessError):
                self.project.with_user(self.users[role]).upgrade_scan("19.0")
        with self.assertRaises(ValidationError):
            self.project.with_user(self.users["developer"]).upgrade_scan("17.0")
        with self.assertRaises(ValidationError):
            self.project.with_user(self.users["developer"]).upgrade_scan("19.0", "yes")
        with self.assertRaises(ValidationError):
            self.Run.with_user(self.users["admin"]).queue_run({"project_id": self.project.id, "kind": "upgrade_scan",
                                                               "config": {"upgrade_to": "19.0"}})
        # The report is readable by every member (the scan is queued: no findings yet), by nobody else.
        report = self.project.with_user(self.users["viewer"]).upgrade_report("19.0")
        self.assertEqual((report["scan"]["id"], report["scan"]["state"], report["findings"]),
                         (record.id, "queued", []))
        with self.assertRaises(AccessError):
            self.project.with_user(self.users["outsider"]).upgrade_report("19.0")
        self.project.with_user(self.manager).odoo_version = "19.0"
        with self.assertRaises(UserError):
            self.project.with_user(self.users["developer"]).upgrade_scan()

    def test_dependency_classification(self):
        apriori = code_scan.read_apriori(
            'renamed_modules = {"old_oca": "new_oca"}\nmerged_modules = {"account_payment_term": "account"}\n'
            'other = 1\n')
        self.assertEqual(apriori, {"renamed_modules": {"old_oca": "new_oca"},
                                   "merged_modules": {"account_payment_term": "account"}})
        rows = code_scan.classify_dependencies(
            {"a": ["sale", "account_payment_term", "old_oca", "gone", "b"], "b": ["oca_ok", "oca_no", "oca_err"]},
            own={"a", "b"}, source_core={"sale", "account_payment_term", "gone"}, target_core={"sale"},
            apriori=apriori, releases={"oca_ok": "18.0.1.0.0", "oca_no": None, "oca_err": "error: timed out"})
        status = {row["module"]: row["status"] for row in rows}
        self.assertEqual(status, {"sale": "core", "account_payment_term": "merged", "old_oca": "renamed",
                                  "gone": "removed", "b": "own", "oca_ok": "released", "oca_no": "unported",
                                  "oca_err": "unknown"})
        self.assertEqual({r["module"] for r in rows if r["status"] in code_scan.BLOCKING}, {"gone", "oca_no"})

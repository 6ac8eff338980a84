import os
import re
import tempfile
import zipfile

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..executors import image, upgrade_coverage, upgrade_preview
from ..executors.base import RunFailed
from ..services import code_scan, filestore, odoo_versions, openupgrade, upgrade_tools
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
        with self.assertRaisesRegex(ValidationError, "Upgrade tab"):
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

    def test_the_scan_reads_what_production_runs(self):
        sha = "a" * 40
        deploy = self.queue(environment_id=self.env_prod.id, kind="deploy", commit_sha=sha)
        worker = self.as_worker(self.Run.browse(deploy["id"]))
        self.assertEqual(self.as_worker().claim_next_run("w1", ["deploy"])["id"], deploy["id"])
        worker.start_workflow_run("w1")
        worker.complete_workflow_run(0, None, "w1", "ok")
        scan = self.Run.browse(self.project.with_user(self.users["developer"]).upgrade_scan("19.0")["id"])
        self.assertEqual((scan.ref, scan.commit_sha), ("main", sha), "production's commit, not the branch's head")
        self.assertIn("the commit production runs, aaaaaaaaaaaa of main", scan.event_ids.mapped("message")[-1])
        # After production's upgrade it runs the upgrade branch's commit: the next scan reads that.
        # sudo: test setup, an upgrade as the worker leaves it
        self.Run.sudo().create({"project_id": self.project.id, "environment_id": self.env_prod.id, "kind": "upgrade",
                                "state": "succeeded", "upgrade_to": "18.0", "commit_sha": "b" * 40, "ref": "main",
                                "number": self.project.sudo()._ops_next_run_number()})
        scan = self.Run.browse(self.project.with_user(self.users["developer"]).upgrade_scan("19.0")["id"])
        self.assertEqual((scan.ref, scan.commit_sha), ("upgrade/18.0", "b" * 40))

    def test_a_push_on_the_upgrade_branch_updates_the_preview(self):
        """Upgrade mode: a push on upgrade/<version> builds the preview environment (its code's modules updated
        on the migrated copy, in the target's image); without a preview the push is ignored."""
        self.assertIn("ignored", self.project.sudo()._ops_on_push("upgrade/19.0", "c" * 40, "push-1"))
        # sudo: test setup, the environment a preview leaves
        preview = self.env["ops.environment"].sudo().create({
            "project_id": self.project.id, "branch": "upgrade/19.0", "stage": "staging", "upgrade_to": "19.0",
            "database_name": "ops_preview_copy"})
        said = self.project.sudo()._ops_on_push("upgrade/19.0", "c" * 40, "push-2")
        self.assertIn("upgrade mode", said)
        run = self.Run.search([("environment_id", "=", preview.id)])
        self.assertEqual((run.kind, run.commit_sha), ("build", "c" * 40))
        spec = run._ops_staging_data_spec({"stage": "staging"})
        self.assertEqual((spec["staging_mode"], spec["odoo_version"], spec["tool_image"]),
                         ("upgrade", "19.0", self.env.ref("ipai_ops_core.ops_tool_odoo_19").image))
        with self.assertRaisesRegex(UserError, "does not run there"):
            self.queue(environment_id=preview.id, kind="deploy")
        # Never promoted to production (its image is another Odoo version than production's data), nor offered.
        with self.assertRaisesRegex(UserError, "not promoted"):
            preview.with_user(self.manager).promote()
        shown = preview.with_user(self.manager)
        self.assertEqual((shown.may_build, shown.may_promote, shown.may_deploy), (True, False, False))

    def test_a_finished_upgrade_keeps_its_report(self):
        self.project.with_user(self.manager).odoo_version = "17.0"
        report = {"from_version": "17.0", "to_version": "18.0", "migration_seconds": 63.0,
                  "predicted_downtime_seconds": 80, "downtime_seconds": 77.5,
                  "steps": [{"from": "17.0", "to": "18.0", "seconds": 63.0, "fatal_module": None, "modules": [
                      {"module": "base", "warnings": 0, "errors": []},
                      {"module": "sale", "warnings": 2, "warning_kinds": {"odoo.models: Field … renamed": 2},
                       "errors": []}],
                      "after_modules": {"warnings": 300, "warning_kinds": {
                          "kept a column the new version no longer uses (the data stays)": 300}}}]}
        # sudo: test setup, a production upgrade as the worker leaves it (its number given by the project)
        run = self.Run.sudo().create({"project_id": self.project.id, "kind": "upgrade", "state": "succeeded",
                                      "upgrade_to": "18.0", "upgrade_report": report,
                                      "number": self.project.sudo()._ops_next_run_number()})
        self.project.with_user(self.manager).odoo_version = "18.0"  # what the upgrade's success does
        viewer = self.project.with_user(self.users["viewer"])
        for asked in (viewer.upgrade_report("18.0"), viewer.upgrade_report(run=run.number)):
            self.assertEqual((asked["from_version"], asked["to_version"], asked["done"]), ("17.0", "18.0", True))
            self.assertEqual(asked["upgrade"]["id"], run.id)
            lines = "\n".join(asked["upgrade"]["lines"])
            self.assertIn("measured downtime 77.5s", lines)
            self.assertIn("sale: 2 warning(s): 2 x odoo.models: Field … renamed", lines)
            self.assertIn("after the modules: 300 warning(s): 300 x kept a column", lines)
        self.assertEqual(viewer.upgrade_report(run=run.number)["run"]["id"], run.id)
        self.assertIn("step 17.0 to 18.0: 2 modules in 63.0s", self.Run.browse(run.id).upgrade_report_text)
        self.assertEqual(viewer.upgrade_report()["to_version"], "19.0", "what is ahead by default")
        self.project.with_user(self.manager).odoo_version = "19.0"
        self.assertEqual(viewer.upgrade_report()["to_version"], "18.0", "nothing ahead: the last upgrade")
        with self.assertRaisesRegex(UserError, "no scan, preview or upgrade run number 999"):
            viewer.upgrade_report(run=999)
        with self.assertRaises(ValidationError):
            viewer.upgrade_report("16.0")

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


LOG = """2026-11-26 12:11:20,100 1 INFO db odoo.modules.loading: Loading module base (1/3)
2026-11-26 12:11:20,200 1 INFO db odoo.modules.migration: module base: Running migration [>18.0.1.3] pre-migration
2026-11-26 12:11:24,000 1 INFO db odoo.modules.loading: Module base loaded in 3.70s, 6757 queries
2026-11-26 12:11:24,100 1 INFO db odoo.modules.loading: Loading module sale (2/3)
2026-11-26 12:11:24,300 1 WARNING db odoo.models: a warning
2026-11-26 12:11:25,000 1 INFO db odoo.modules.migration: module sale: Running migration [18.0.1.2>] post-migration
2026-11-26 12:11:26,000 1 INFO db odoo.modules.loading: Module sale loaded in 1.90s, 900 queries
2026-11-26 12:11:26,050 1 WARNING db OpenUpgrade: Unknown: Not dropping the column of field x_a of model sale.order
2026-11-26 12:11:26,060 1 WARNING db OpenUpgrade: Unknown: Not dropping the column of field note of model res.partner
2026-11-26 12:11:26,070 1 WARNING db odoo.models: Field 'sale.order.x_old' is renamed to 'x_new'
2026-11-26 12:11:26,100 1 INFO db odoo.modules.loading: Loading module acme (3/3)
2026-11-26 12:11:26,200 1 ERROR db odoo.sql_db: bad query: column "numbercall" does not exist
Traceback (most recent call last):"""


@tagged("post_install", "-at_install", "ipai_ops")
class TestOpenUpgradePieces(OpsCase):
    def test_migration_log_module_by_module(self):
        log = openupgrade.MigrationLog()
        levels = [log.feed(line) for line in LOG.splitlines()]
        self.assertIn("warning", levels)
        self.assertIn("error", levels)
        modules = {m["module"]: m for m in log.report()}
        self.assertEqual([m["module"] for m in log.report()], ["base", "sale", "acme"])
        self.assertEqual((modules["base"]["seconds"], modules["base"]["queries"]), (3.7, 6757))
        self.assertEqual(modules["base"]["scripts"], ["pre-migration >18.0.1.3"])
        self.assertEqual(modules["sale"]["scripts"], ["post-migration 18.0.1.2>"])
        self.assertEqual(modules["sale"]["warnings"], 1)
        self.assertEqual(modules["sale"]["warning_kinds"], {"odoo.models: a warning": 1})
        after = log.after_modules()
        self.assertEqual(after["warnings"], 3, "what comes after a module loaded is none of its warnings")
        self.assertEqual(after["warning_kinds"], {
            "kept a column the new version no longer uses (the data stays)": 2,
            "odoo.models: Field … is renamed to …": 1}, "told by what they mean, the varying names left out")
        self.assertIn("numbercall", modules["acme"]["errors"][0])
        self.assertEqual(log.fatal_module(1), "acme", "loading began and never finished")
        self.assertIsNone(log.fatal_module(0))

    def test_scripts_newer_than_the_tree_are_caught(self):
        with tempfile.TemporaryDirectory() as root:
            scripts = os.path.join(root, "site", "odoo", "addons", "openupgrade_scripts", "scripts", "base", "18.0.1.3")
            os.makedirs(scripts)
            with open(os.path.join(scripts, "noupdate_changes.xml"), "w") as fh:
                fh.write('<odoo><record id="EUR" model="res.currency"><field name="x">1</field></record>'
                         '<record id="lang_xx" model="res.lang"><field name="currency_id" ref="XCG"/></record>'
                         '<record id="model_res_partner" model="ir.model"/></odoo>')
            data = os.path.join(root, "tree", "odoo", "addons", "base", "data")
            os.makedirs(data)
            with open(os.path.join(data, "res_currency_data.xml"), "w") as fh:
                fh.write('<odoo><record id="EUR" model="res.currency"/><record id="base.lang_xx" model="res.lang"/>'
                         '</odoo>')
            site, tree = os.path.join(root, "site"), os.path.join(root, "tree")
            self.assertEqual([x for _m, x, _f in openupgrade.missing_references(site, tree, ["base", "sale"])],
                             ["base.XCG"], "a record it refers to; automatic ids (model_) are not asked for")
            with open(os.path.join(data, "res_currency_data.xml"), "a") as fh:
                fh.write('<odoo><record id="XCG" model="res.currency"/></odoo>')
            self.assertEqual(openupgrade.missing_references(site, tree, ["base"]), [])
            self.assertEqual(openupgrade.missing_references(site, tree, ["sale"]), [], "only installed modules")

    def test_the_manifest_moves_to_the_target_series(self):
        with tempfile.TemporaryDirectory() as tree:
            os.makedirs(os.path.join(tree, "acme"))
            path = os.path.join(tree, "acme", "__manifest__.py")
            with open(path, "w") as fh:
                fh.write("{\n    'name': 'Acme', 'version': '17.0.1.2.0', 'license': 'LGPL-3',\n}\n")
            self.assertTrue(code_scan.bump_manifest_version(tree, "acme", "17.0", "18.0"))
            self.assertEqual(code_scan.manifest(tree, "acme"),
                             {"name": "Acme", "version": "18.0.1.2.0", "license": "LGPL-3"}, "nothing else moved")
            self.assertFalse(code_scan.bump_manifest_version(tree, "acme", "17.0", "18.0"), "once")
            with open(path, "w") as fh:
                fh.write('{"name": "Acme", "version": "1.0"}')
            self.assertFalse(code_scan.bump_manifest_version(tree, "acme", "17.0", "18.0"), "no series: Odoo adds it")

    def test_oca_pins_move_to_the_target_series(self):
        releases = {"date_range": "18.0.5.0.2.2", "web_responsive": None, "mis_builder": "error: HTTP 503 from x"}
        with tempfile.TemporaryDirectory() as tree:
            path = os.path.join(tree, "requirements.txt")
            with open(path, "w") as fh:
                fh.write("--no-index\nodoo-addon-date-range==17.0.1.2.1.5  # dates\nodoo-addon-web-responsive==17.0.1.1"
                         "\nodoo-addon-mis-builder==17.0.1.0.0\nodoo-addon-queue-job==18.0.1.0.0\nrequests==2.31.0\n")
            moved, stuck = code_scan.move_requirement_pins(tree, "17.0", "18.0", releases.get)
            self.assertEqual(moved, [("odoo-addon-date-range", "17.0.1.2.1.5", "18.0.5.0.2.2")])
            self.assertEqual(stuck, [("odoo-addon-web-responsive", "17.0.1.1", "no 18.0 release"),
                                     ("odoo-addon-mis-builder", "17.0.1.0.0", "HTTP 503 from x")])
            with open(path) as fh:
                self.assertEqual(fh.read(), "--no-index\nodoo-addon-date-range==18.0.5.0.2.2  # dates\n"
                                            "odoo-addon-web-responsive==17.0.1.1\nodoo-addon-mis-builder==17.0.1.0.0\n"
                                            "odoo-addon-queue-job==18.0.1.0.0\nrequests==2.31.0\n", "only that pin")
        with tempfile.TemporaryDirectory() as tree:
            self.assertEqual(code_scan.move_requirement_pins(tree, "17.0", "18.0", releases.get), ([], []))

    def test_code_for_another_series_is_refused(self):
        image.check_series({"a": "18.0.1.0.0", "b": "18.0.2.1"}, "18.0", "main")
        with self.assertRaisesRegex(RunFailed, r"main holds addons written for another Odoo version than the "
                                               r"project's 18.0: a \(17.0.1.0.0\). After an upgrade, merge"):
            image.check_series({"a": "17.0.1.0.0", "b": "18.0.1.0.0"}, "18.0", "main")

    def test_downtime_prediction_scales_with_production(self):
        report = {"migration_seconds": 100.0, "db_bytes": 400 * 10**6, "start_seconds": 5.0}
        self.assertEqual(upgrade_preview.predict_downtime(report, {"db_bytes": 400 * 10**6}), 100 + 2 + 5)
        self.assertEqual(upgrade_preview.predict_downtime(report, {"db_bytes": 800 * 10**6}), 200 + 4 + 5)
        self.assertEqual(upgrade_preview.predict_downtime(report, {}), 107, "production's size unknown: the copy's")
        del report["start_seconds"]
        self.assertEqual(upgrade_preview.predict_downtime(report, {}), 102 + upgrade_preview.START_SECONDS)

    def test_pinned_wheels_are_named_and_found(self):
        with tempfile.TemporaryDirectory() as directory:
            found, missing = openupgrade.wheels(directory, "18.0")
            self.assertEqual(found, {})
            self.assertIn("odoo-addon-openupgrade-scripts==18.0.1.0.0.457", missing)
            name = "odoo_addon_openupgrade_scripts-18.0.1.0.0.457-py3-none-any.whl"
            open(os.path.join(directory, name), "w").close()
            self.assertEqual(odoo_versions.openupgrade_wheel(directory, "18.0"), os.path.join(directory, name))
            with self.assertRaisesRegex(RuntimeError, "scripts/setup.sh downloads them"):
                openupgrade.prepare_site(directory, "18.0")

    def test_coverage_is_read_from_the_scripts_package(self):
        prefix = "odoo/addons/openupgrade_scripts/"
        with tempfile.TemporaryDirectory() as directory:
            wheel = os.path.join(directory, "odoo_addon_openupgrade_scripts-18.0.1.0.0.457-py3-none-any.whl")
            with zipfile.ZipFile(wheel, "w") as archive:
                for name in ("sale/18.0.1.2/upgrade_analysis.txt", "sale/18.0.1.2/post-migration.py",
                             "stock/18.0.1.1/upgrade_analysis.txt", "stock/18.0.1.1/upgrade_analysis_work.txt",
                             "delivery/18.0.1.0/upgrade_analysis.txt", "delivery/tests/test_migration.py",
                             "crm/17.0.1.0/upgrade_analysis.txt"):
                    archive.writestr(prefix + "scripts/" + name, "")
                archive.writestr(prefix + "apriori.py", "renamed_modules = {'sale_old': 'sale_new'}\n"
                                                        "merged_modules = {'website_sale_x': 'website_sale'}\n")
            self.assertEqual(upgrade_tools.coverage(wheel, "18.0"),
                             {"sale": "done", "stock": "done", "delivery": "not covered"},
                             "reviewed or scripted: done; an analysis alone: not covered; 17.0's: not this step")
            spec = {"steps": [{"from": "17.0", "to": "18.0"}], "openupgrade_dir": directory, "to_version": "18.0",
                    "package_index": "http://127.0.0.1:9"}
            table, findings = upgrade_coverage.rows(
                spec, ["acme", "crm", "delivery", "sale", "sale_old", "server_env"], {"acme"},
                {"crm", "delivery", "sale", "sale_old"}, {"server_env": "18.0.1.0.2"})
            status = {row["module"]: (row["kind"], row["steps"]["18.0"]) for row in table}
            self.assertEqual(status, {
                "acme": ("custom", "your code; its data by its own migrations/18.0 scripts"),
                "crm": ("odoo", "nothing to do"), "delivery": ("odoo", "not covered"), "sale": ("odoo", "done"),
                "sale_old": ("odoo", "renamed to sale_new"), "server_env": ("other", "release 18.0.1.0.2")})
            self.assertEqual([(f["addon"], f["source"]) for f in findings], [("delivery", "coverage")])
            self.assertEqual(upgrade_coverage.summary(table, ["18.0"])["18.0"], {
                "counts": {"done": 1, "not covered": 1, "nothing to do": 1, "renamed": 1},
                "not_covered": ["delivery"]})

    def test_filestore_copy_keeps_directory_owners(self):
        """A copied filestore (staging, previews, deploys) stays writable by the environment's Odoo (uid 101)."""
        if os.geteuid() != 0:
            self.skipTest("needs root to give files another owner (the workers run as root)")
        with tempfile.TemporaryDirectory() as root:
            src, dest = os.path.join(root, "src"), os.path.join(root, "dest")
            os.makedirs(os.path.join(src, "ab"))
            with open(os.path.join(src, "ab", "abcdef"), "w") as fh:
                fh.write("x")
            for path in (src, os.path.join(src, "ab"), os.path.join(src, "ab", "abcdef")):
                os.chown(path, 101, 101)
            counts = filestore.link_tree(src, dest)
            self.assertEqual(counts, {"files": 1, "linked": 1})
            for path in (dest, os.path.join(dest, "ab"), os.path.join(dest, "ab", "abcdef")):
                self.assertEqual((os.stat(path).st_uid, os.stat(path).st_gid), (101, 101), path)

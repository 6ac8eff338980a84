"""The Ops app's home page as each role reads it (ops.overview): what waits
for my approval, what runs, what fails, my environments; nothing of a
project I am not a member of."""

from odoo.tests import tagged

from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestOverview(OpsCase):
    def setUp(self):
        super().setUp()
        # sudo: test setup, the project's settings
        self.project.sudo().production_approval = True
        self.waiting = self.queue(user=self.users["admin"], environment_id=self.env_prod.id, kind="deploy")
        staging_build = self.queue(environment_id=self.env_staging.id)
        self.still_queued = self.queue(environment_id=self.env_dev.id)
        run = self.as_worker(self.Run.browse(self.as_worker().claim_next_run("w1", ["build"])["id"]))
        self.assertEqual(run.id, staging_build["id"], "first in, first out")
        run.start_workflow_run("w1")
        run.complete_workflow_run(1, "ImportError: cannot import name 'ustr'", "w1", "failed")
        self.failed_env = run.environment_id

    def overview(self, role):
        user = self.users.get(role) or getattr(self, role)
        with self.assertNoLogs("odoo.tools.translate", "WARNING"):  # every label in the user's language
            return {s["key"]: s for s in self.env["ops.overview"].with_user(user).get_overview()}

    def names(self, section):
        return [item["name"] for item in section["items"]]

    def test_each_role_reads_what_needs_it(self):
        admin = self.overview("admin")
        self.assertEqual(admin["waiting"]["count"], 1)
        self.assertEqual(admin["waiting"]["items"][0]["id"], self.waiting["id"])
        self.assertEqual(self.names(admin["waiting"]), ["Deploy · %s" % self.env_prod.display_name])
        self.assertEqual(admin["failing"]["items"][0]["id"], self.failed_env.id)
        self.assertIn("ImportError", admin["failing"]["items"][0]["detail"], "why it fails, on the page")
        self.assertEqual([i["id"] for i in admin["running"]["items"]], [self.still_queued["id"]])
        self.assertEqual(admin["running"]["items"][0]["badge"], "Queued")
        self.assertEqual(admin["environments"]["count"], 3)
        developer = self.overview("developer")
        self.assertEqual(developer["waiting"]["count"], 0, "a developer may not approve production")
        self.assertEqual(developer["failing"]["count"], 1)
        outsider = self.overview("outsider")
        self.assertEqual({k: s["count"] for k, s in outsider.items() if k in ("waiting", "running", "failing",
                                                                              "environments")},
                         {"waiting": 0, "running": 0, "failing": 0, "environments": 0},
                         "nothing of a project one is not a member of")

    def test_see_all_opens_what_was_counted(self):
        section = self.overview("developer")["running"]
        self.assertEqual(self.Run.with_user(self.users["developer"]).search_count(section["domain"]),
                         section["count"])

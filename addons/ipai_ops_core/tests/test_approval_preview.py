"""What an approver reads, from a real git repository: the commit pinned,
its message and author, the modules it changes against what production
runs, the other files counted."""

import shutil
import tempfile

from odoo.tests import tagged

from .common import OpsCase, addon_repository, git, write


@tagged("post_install", "-at_install", "ipai_ops")
class TestApprovalPreview(OpsCase):
    def setUp(self):
        super().setUp()
        self.repo = addon_repository(self)
        cache = tempfile.mkdtemp(prefix="ipai-ops-approval-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        self.env["ir.config_parameter"].sudo().set_param("ipai_ops.data_root", cache)
        self.first = git(self.repo, "rev-parse", "HEAD")
        self.project.sudo().repo_url = self.repo

    def deployed(self, sha):
        """Production runs ``sha``: a deploy queued, claimed, run and finished through the run API."""
        run = self.queue(environment_id=self.env_prod.id, kind="deploy", commit_sha=sha)
        worker = self.as_worker(self.Run.browse(run["id"]))
        self.assertEqual(self.as_worker().claim_next_run("w1", ["deploy"])["id"], run["id"])
        worker.start_workflow_run("w1")
        worker.complete_workflow_run(0, None, "w1", "ok")

    def test_the_approver_reads_the_commit_and_the_modules_it_changes(self):
        self.deployed(self.first)
        write(self.repo, "shop_stock/models.py", "# picking rules\n")
        write(self.repo, "README.md", "notes\n")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", "Stock: picking rules")
        second = git(self.repo, "rev-parse", "HEAD")
        self.project.sudo().production_approval = True
        run = self.queue(user=self.users["admin"], environment_id=self.env_prod.id, kind="deploy")
        self.assertEqual(run["state"], "waiting_approval")
        record = self.Run.browse(run["id"])
        self.assertEqual(record.commit_sha, second, "what is approved is what runs")
        self.assertIn("Stock: picking rules", record.approval_summary)
        self.assertIn("Ana Integrator", record.approval_summary)
        self.assertIn("Production runs %s" % self.first[:12], record.approval_summary)
        self.assertEqual(record.approval_modules, "shop_stock")
        self.assertIn("and 1 other file(s)", record.approval_summary)
        self.assertFalse(record.diff_url, "a local repository has no web view")

    def test_a_repository_out_of_reach_is_said_and_queues_all_the_same(self):
        self.project.sudo().production_approval = True
        shutil.rmtree(self.repo)
        run = self.queue(user=self.users["admin"], environment_id=self.env_prod.id, kind="deploy")
        self.assertEqual(run["state"], "waiting_approval")
        self.assertIn("Could not read the commit", self.Run.browse(run["id"]).approval_summary)

"""The real claim path, outside of any test transaction: runs committed to
the database, workers claiming from cursors and threads of their own, as
`ops-worker` slots do (SKIP LOCKED, a transaction per claim, retries)."""

import threading
import uuid

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import TransactionCase, tagged

RUNS = 8
WORKERS = 4


@tagged("post_install", "-at_install", "ipai_ops")
class TestClaimConcurrency(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # odoo-bin runs the tests holding the registries' lock, which a new
        # Environment takes: the workers' threads would wait for the test to
        # end. Lifted while the class runs, as Odoo does for HttpCase's server.
        saved, Registry._lock = Registry._lock, DummyRLock()
        cls.addClassCleanup(setattr, Registry, "_lock", saved)

    def setUp(self):
        super().setUp()
        slug = "claim-%s" % uuid.uuid4().hex[:8]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            project = env["ops.project"].create({"name": "Claims " + slug, "slug": slug,
                                                 "repo_url": "https://git.example.com/%s.git" % slug})
            self.run_ids = [env["ops.run"].queue_run({
                "project_id": project.id, "kind": "build", "branch": "feature/claim-%d" % i})["id"]
                for i in range(RUNS)]
        self.projects = [slug]
        self.addCleanup(self._forget)

    def _forget(self):
        # Runs keep their audit trail (events are append-only): the test's own end canceled.
        with self.registry.cursor() as cr:
            runs = api.Environment(cr, SUPERUSER_ID, {})["ops.run"].browse(self.run_ids)
            runs.filtered(lambda r: r.state in ("queued", "claimed")).cancel_run("the claim test's own runs")

    def _claims(self, worker_id, out, errors):
        try:
            with self.registry.cursor() as cr:
                worker = api.Environment(cr, SUPERUSER_ID, {})["ops.run"]
                while claimed := worker.claim_next_run(worker_id, ["build"], self.projects):
                    out.append((claimed["id"], worker_id))
        except Exception as error:  # noqa: BLE001 -- reported by the test thread
            errors.append(error)

    def test_workers_claim_each_run_once_from_their_own_cursors(self):
        claims, errors = [], []
        threads = [threading.Thread(target=self._claims, args=("slot-%d" % i, claims, errors))
                   for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(errors)
        self.assertEqual(sorted(run_id for run_id, _ in claims), sorted(self.run_ids), "each run claimed once")
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, state, claimed_by FROM ops_run WHERE id = ANY(%s)", [self.run_ids])
            committed = {row[0]: (row[1], row[2]) for row in cr.fetchall()}
        self.assertEqual(committed, {run_id: ("claimed", worker) for run_id, worker in claims},
                         "every claim is committed by the claim itself, to the worker that got it")

    def test_a_claim_skips_a_run_another_transaction_holds(self):
        first = min(self.run_ids)
        with self.registry.cursor() as holder:
            holder.execute("SELECT id FROM ops_run WHERE id = %s FOR UPDATE", [first])
            claims, errors = [], []
            thread = threading.Thread(target=lambda: claims.append(self._claim_once("slot-x", errors)))
            thread.start()
            thread.join(30)
            self.assertFalse(thread.is_alive(), "the claim waited for the transaction holding the oldest run")
            holder.rollback()
        self.assertFalse(errors)
        self.assertTrue(claims[0] and claims[0]["id"] != first and claims[0]["id"] in self.run_ids, claims)

    def _claim_once(self, worker_id, errors):
        try:
            with self.registry.cursor() as cr:
                return api.Environment(cr, SUPERUSER_ID, {})["ops.run"].claim_next_run(worker_id, ["build"],
                                                                                self.projects)
        except Exception as error:  # noqa: BLE001 -- reported by the test thread
            errors.append(error)

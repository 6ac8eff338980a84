"""Executing claimed runs: the cron drain on a single box and `odoo-bin ops-worker` slots."""

import socket
import time

from odoo import SUPERUSER_ID, api, models
from odoo.service.model import retrying

from ..executors import registry
from ..runtime import execute
from . import stage_matrix


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _ops_run_kinds(self):
        """{kind: registry.RunKind}: every kind of run a worker executes
        (executors/registry.py). Another addon adds its kinds, or extends
        core's, by overriding this (super() first)."""
        return registry.core_kinds()

    @api.model
    def _ops_reserved_config(self):
        """Config keys only the platform's own methods set, whatever the kind."""
        return frozenset().union(*(kind.reserved_config for kind in self._ops_run_kinds().values()))

    @api.model
    def _ops_stage_matrix(self):
        """Who may do what on which stage: core's matrix plus the rows of
        the kinds that are actions of their own (stage_matrix.py)."""
        return stage_matrix.extended({key: kind.roles for key, kind in self._ops_run_kinds().items() if kind.roles})

    def _ops_execute(self, worker_id, host="local"):
        """Execute this claimed run to its end (runtime/execute.py). Commits
        as it goes (own cursors), so call it outside of any transaction that
        matters. Returns the run's final state."""
        self.ensure_one()
        return execute.execute_claimed(self.env["ops.run"], self.id, worker_id, host)

    def _ops_in_cursor(self, run_id, func):
        """``func(run)`` in a transaction of its own, committed at once, and
        retried (Odoo's ``retrying``) when a concurrent transaction wrote the
        same rows: two builds finishing together, a heartbeat, a user."""
        with self.env.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return retrying(lambda: func(env["ops.run"].browse(run_id)), env)

    @api.model
    def _ops_work(self, worker_id, kinds=None, time_budget=None, max_runs=None, host="local", projects=None):
        """Claim and execute runs until the queue is empty, the time budget
        is spent or ``max_runs`` ran. Returns the number of runs executed."""
        kinds = list(kinds or self._ops_run_kinds())
        deadline = time.monotonic() + time_budget if time_budget else None
        done = 0
        while (deadline is None or time.monotonic() < deadline) and (max_runs is None or done < max_runs):
            claimed = self.claim_next_run(worker_id, kinds, projects)
            if not claimed:
                break
            self.browse(claimed["id"])._ops_execute(worker_id, host)
            done += 1
        return done

    @api.model
    def _cron_process_queue(self):
        """The fallback of a bare `odoo-bin` (no worker process alive): drain
        the queue within a time budget (ipai_ops.cron_time_budget seconds,
        default 240) that keeps one cron call inside Odoo's cron time limit;
        a started run always finishes. Never while a worker is alive."""
        # sudo: whether dedicated workers run is the platform's bookkeeping
        if self.env["ops.worker"].sudo()._ops_alive():
            # They take the runs (woken at once); the cron thread stays free
            # for the crons that run every minute.
            return 0
        # sudo: configuration parameters are readable by system users only
        budget = int(self.env["ir.config_parameter"].sudo().get_param("ipai_ops.cron_time_budget") or 240)
        return self._ops_work("cron@%s" % socket.gethostname(), time_budget=budget)

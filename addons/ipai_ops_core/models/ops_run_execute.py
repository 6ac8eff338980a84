"""Executing claimed runs: the cron drain on a single box and `odoo-bin ops-worker` slots."""

import logging
import os
import socket
import time
import traceback

from odoo import SUPERUSER_ID, api, models
from odoo.service.model import retrying

from ..executors import cleanup, lifecycle
from ..executors import deploy as deploy_executor
from ..executors.base import RunCanceled, RunFailed
from .run_reporter import DbReporter

_logger = logging.getLogger(__name__)

# Run kinds with an executor (the others get theirs with their issues).
EXECUTORS = {
    # by stage: development build, staging copy of production, production deploy
    "build": deploy_executor.execute,
    "deploy": deploy_executor.execute,
    "rollback": deploy_executor.rollback,
    "start": lifecycle.start,
    "stop": lifecycle.stop,
    "destroy": lifecycle.destroy,
}


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _ops_executors(self):
        """Run kind -> executor function; other addons add theirs (backups)."""
        return dict(EXECUTORS)

    def _ops_execute(self, worker_id, host="local"):
        """Execute this claimed run to its end. Commits as it goes (own
        cursors), so call it outside of any transaction that matters."""
        self.ensure_one()
        registry, run_id = self.env.registry, self.id

        def start(run):
            run.start_workflow_run(worker_id)
            try:
                return run.kind, run.attempt, run._executor_spec(host), None
            except RunFailed as exc:
                return run.kind, run.attempt, None, exc

        kind, attempt, spec, prepare_error = self._ops_in_cursor(run_id, start)
        executor = self._ops_executors().get(kind)
        exit_code, outcome, error, message = 0, "ok", None, None
        log_dir = os.path.join(self.env["ops.run.artifact"]._artifact_root(), "logs")
        os.makedirs(log_dir, exist_ok=True)
        reporter = DbReporter(registry, run_id, worker_id, log_path=os.path.join(log_dir, "run-%d.log" % run_id))
        try:
            with reporter:
                if prepare_error:
                    raise prepare_error
                if attempt > 1:
                    # A retried attempt starts clean: what the lost one made goes first.
                    reporter.log("info", "Attempt %d of this run" % attempt)
                    cleanup.remove_leftovers(spec, log=lambda message: reporter.log("info", message))
                    self._ops_in_cursor(run_id, lambda run: run._ops_forget_earlier_attempts())
                if not executor:
                    raise RunFailed("No executor for '%s' runs yet." % kind)
                if not spec["environment_id"]:
                    raise RunFailed("A '%s' run needs an environment." % kind)
                result = executor(spec, reporter)
                exit_code, outcome = result.get("exit_code", 0), result["result"]
                error, message = result.get("error"), result.get("message")
        except RunCanceled:
            _logger.info("ops: run %s canceled while executing", run_id)
            return "canceled"
        except RunFailed as exc:
            exit_code, outcome, error = exc.exit_code or 1, "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - any crash fails the run with its reason
            _logger.exception("ops: run %s crashed", run_id)
            exit_code, outcome = 1, "failed"
            error = "Internal error: %s: %s" % (type(exc).__name__, exc)
            reporter.log("error", traceback.format_exc())
            reporter.flush()
        def complete(run):
            if run.state != "running":
                return run.state
            if message:
                run.append_run_log({"level": "error" if outcome == "failed" else "info", "message": message})
            run.complete_workflow_run(exit_code, error, worker_id, outcome)
            env = run.environment_id
            if exit_code and env.state == "building":
                env.write({"state": "running" if env.container_id else "failed"})
            return run.state

        return self._ops_in_cursor(run_id, complete)

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
        kinds = list(kinds or self._ops_executors())
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
        """Drain the queue on a single box, within a time budget
        (ipai_ops.cron_time_budget seconds, default 240) that keeps one cron
        call inside Odoo's cron time limit; a started run always finishes."""
        # sudo: configuration parameters are readable by system users only
        budget = int(self.env["ir.config_parameter"].sudo().get_param("ipai_ops.cron_time_budget") or 240)
        return self._ops_work("cron@%s" % socket.gethostname(), time_budget=budget)

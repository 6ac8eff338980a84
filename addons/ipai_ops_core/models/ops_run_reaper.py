"""The reaper: runs whose worker went quiet are requeued, or failed after the last attempt."""

import logging
from datetime import timedelta

from odoo import _, api, fields, models

from ..executors import cleanup
from .ops_run import DEFAULT_HEARTBEAT_TIMEOUT, _utcnow

_logger = logging.getLogger(__name__)

class OpsRun(models.Model):
    _inherit = "ops.run"

    # ------------------------------------------------------------------
    # crons
    # ------------------------------------------------------------------
    @api.model
    def _heartbeat_timeout(self):
        # sudo: configuration parameters are readable by system users only
        return self.env["ir.config_parameter"].sudo()._ops_int("ipai_ops.heartbeat_timeout_seconds",
                                                               DEFAULT_HEARTBEAT_TIMEOUT, minimum=10)

    @api.model
    def _cron_reap_stale_runs(self):
        """Requeue (or fail, after max attempts) runs whose worker went quiet."""
        timeout = self._heartbeat_timeout()
        limit = _utcnow() - timedelta(seconds=timeout)
        self.flush_model(["state", "heartbeat_at", "claimed_at"])
        self.env.cr.execute("""
            SELECT id FROM ops_run
             WHERE state IN ('claimed', 'running') AND COALESCE(heartbeat_at, claimed_at) < %s
             ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
        """, [limit])
        runs = self.browse([r[0] for r in self.env.cr.fetchall()])
        for run in runs:
            worker = run.claimed_by
            last = fields.Datetime.to_string(run.heartbeat_at or run.claimed_at)
            # What the lost attempt left goes now, while the run is still
            # locked here (no worker can take it before this commits).
            run._ops_remove_leftovers()
            if run.attempt < run.max_attempts:
                run._set_state(
                    "queued",
                    _("Worker %(worker)s stopped sending heartbeats (last %(last)s); requeued for attempt "
                      "%(n)s of %(max)s", worker=worker, last=last, n=run.attempt + 1, max=run.max_attempts),
                    {"worker": worker, "attempt": run.attempt + 1, "reason": "stale_heartbeat"},
                    attempt=run.attempt + 1, claimed_by=False, claimed_at=False, heartbeat_at=False,
                    started_at=False,
                )
            else:
                message = _("Worker %(worker)s stopped sending heartbeats (last %(last)s) on the last attempt "
                            "(%(n)s of %(max)s)", worker=worker, last=last, n=run.attempt, max=run.max_attempts)
                run._set_state("failed", message, {"worker": worker, "reason": "stale_heartbeat"},
                               exit_code=-1, error_message=message, result="failed", finished_at=_utcnow())
                if run.environment_id and run.kind != "shell":  # a lost shell session says nothing of the code
                    # sudo: the reaper (a cron) records the failed run on its environment
                    run.environment_id.sudo().write({"last_run_id": run.id, "last_result": "failed"})
        if runs:
            _logger.info("ops: reaped %d stale runs (timeout %ss)", len(runs), timeout)
        return len(runs)

    def _ops_remove_leftovers(self):
        """Stop and remove the containers, databases and directories the
        lost attempt made; say what went in the run's log. A failure (the
        Docker host unreachable) is logged: the garbage collector and the
        next attempt's clean start catch up."""
        self.ensure_one()
        if not self.environment_id:
            return None
        lines = []
        try:
            removed = cleanup.remove_leftovers(self._ops_leftover_spec(), log=lines.append)
        except Exception as exc:  # noqa: BLE001 - the reaper must decide the run whatever the host says
            _logger.warning("ops: leftovers of run %s not removed: %s", self.display_name, exc)
            self.append_run_log({"level": "warning", "message": "Leftovers of the lost attempt not removed yet: %s"
                                 % exc})
            return None
        for line in lines:
            self.append_run_log({"level": "info", "message": line})
        return removed

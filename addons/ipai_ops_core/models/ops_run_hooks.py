"""What follows a run's state changes: its attempts."""

from odoo import fields, models

from .ops_run import _utcnow


class OpsRun(models.Model):
    _inherit = "ops.run"

    attempt_ids = fields.One2many("ops.run.attempt", "run_id", "Attempts")

    def _set_state(self, new_state, message=None, payload=None, **vals):
        before = {run.id: (run.state, run.attempt, run.claimed_by) for run in self}
        res = super()._set_state(new_state, message, payload, **vals)
        for run in self:
            old, number, worker = before[run.id]
            lost = new_state == "queued" or (payload or {}).get("reason") == "stale_heartbeat"
            run._ops_track_attempt(old, new_state, number, worker, message, lost)
        return res

    def _ops_forget_earlier_attempts(self):
        """What earlier attempts recorded goes (their artifacts but the log,
        which keeps every attempt's lines); the new attempt records its own."""
        self.ensure_one()
        # sudo: artifacts are the platform's records of the run
        self.env["ops.run.artifact"].sudo().search([("run_id", "=", self.id), ("key", "!=", "log")]).unlink()

    def _ops_track_attempt(self, old, new_state, number, worker, message, lost=False):
        """Every attempt gets its record: opened when a worker starts the run,
        closed with the outcome and the reason when the run leaves running
        (a requeue after a lost worker closes it as 'lost')."""
        # sudo: attempts are written by the run methods only (like events)
        Attempt = self.env["ops.run.attempt"].sudo()
        if new_state == "running":
            Attempt.create({"run_id": self.id, "number": self.attempt, "worker_id": worker or self.claimed_by,
                            "started_at": self.started_at or _utcnow()})
        elif old in ("claimed", "running"):
            current = Attempt.search([("run_id", "=", self.id), ("number", "=", number)], limit=1)
            values = {"finished_at": _utcnow(), "outcome": "lost" if lost else new_state,
                      "reason": message or False}
            if current:
                current.write(values)
            else:  # claimed, never started
                Attempt.create(dict(values, run_id=self.id, number=number, worker_id=worker))

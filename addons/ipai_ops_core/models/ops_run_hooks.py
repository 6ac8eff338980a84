"""What follows a run's state changes: its attempts; a worker woken when
a run enters the queue; each kind's own consequences."""

from odoo import fields, models

from .ops_run import _utcnow

QUEUE_CHANNEL = "ipai_ops_queue"  # LISTENed to by `odoo-bin ops-worker`


class OpsRun(models.Model):
    _inherit = "ops.run"

    attempt_ids = fields.One2many("ops.run.attempt", "run_id", "Attempts")

    def _ops_state_changed(self, new_state, before, message=None, payload=None):
        """What follows the runs' move to ``new_state`` (``before``: {run id:
        (state, attempt, worker)}): each attempt's record, the workers woken
        when runs enter the queue, then the methods each kind names
        (executors/registry.py: ``on_state``). Another addon extends it."""
        for run in self:
            old, number, worker = before[run.id]
            lost = new_state == "queued" or (payload or {}).get("reason") == "stale_heartbeat"
            run._ops_track_attempt(old, new_state, number, worker, message, lost)
        if new_state == "queued":
            self._ops_wake_workers()
        self._ops_notify_changed()
        kinds = self._ops_run_kinds()
        for run in self:
            for method in kinds[run.kind].on_state if run.kind in kinds else ():
                getattr(run, method)(new_state)

    def _ops_notify_changed(self):
        """Tell the browsers that may show these runs (their project's
        members, the Ops Managers) that they moved: the run form and the
        environment's form reload what they show (Odoo's bus, sent when the
        transaction commits). The message says which run, never what it holds."""
        # sudo: the bus and the recipients are the platform's bookkeeping; the payload is ids and a state
        managers = self.env.ref("ipai_ops_core.group_ops_manager")
        bus = self.env["bus.bus"].sudo()
        for run in self.sudo():
            payload = {"run_id": run.id, "environment_id": run.environment_id.id or False, "state": run.state}
            for target in [*run.project_id.member_ids.user_id.partner_id, managers]:
                bus._sendone(target, "ipai_ops/run_changed", payload)

    def _ops_wake_workers(self):
        """A run entered the queue: wake the workers now, not at their next
        poll. PostgreSQL delivers the NOTIFY when this transaction commits
        (never for a run that was rolled back); with no worker alive, the
        cron that drains the queue on a single box is triggered instead."""
        self.env.cr.execute("SELECT pg_notify(%s, %s)", [QUEUE_CHANNEL, ",".join(map(str, self.ids))])
        # sudo: whether workers run is the platform's bookkeeping
        if not self.env["ops.worker"].sudo()._ops_alive():
            # sudo: the queue's cron is the platform's; any caller's run may wake it
            cron = self.env.ref("ipai_ops_core.cron_process_queue", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()

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

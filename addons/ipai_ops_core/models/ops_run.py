import logging
import re
from datetime import datetime, timezone

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from . import durations
from .ops_environment import RESULTS
from .rpc_args import valid_records

_logger = logging.getLogger(__name__)

RUN_STATES = [
    ("waiting_approval", "Waiting approval"),
    ("queued", "Queued"),
    ("claimed", "Claimed"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
]
# The state machine. Only the run methods below move a run along it.
TRANSITIONS = {
    "waiting_approval": {"queued", "canceled"},
    "queued": {"claimed", "canceled"},
    "claimed": {"running", "queued", "failed", "canceled"},
    "running": {"succeeded", "failed", "canceled", "queued"},
    "succeeded": set(),
    "failed": set(),
    "canceled": set(),
}
ACTIVE_STATES = ("waiting_approval", "queued", "claimed", "running")
# Core's kinds (executors/registry.py says what each one is); an addon adds its own with selection_add.
RUN_KINDS = [("build", "Build"), ("deploy", "Deploy"), ("start", "Start"), ("stop", "Stop"), ("destroy", "Destroy"),
             ("recreate", "Recreate"), ("rollback", "Rollback"), ("move", "Move to another node"),
             ("shell", "Shell session"),
             ("upgrade_scan", "Upgrade scan"), ("upgrade_preview", "Upgrade preview"), ("upgrade", "Upgrade")]
# Fields that only the run methods (in superuser mode) may write.
PROTECTED_FIELDS = {
    "project_id", "environment_id", "kind", "number", "state", "claimed_by", "claimed_at", "heartbeat_at",
    "started_at", "finished_at", "exit_code", "error_message", "idempotency_key", "attempt", "commit_sha",
    "ref", "requested_by_id", "result", "approved_by_id", "approved_at", "retry_of_id", "upgrade_to",
    "upgrade_report", "approval_summary", "approval_modules", "diff_url",
}
QUEUE_KEYS = {
    "project", "project_id", "environment_id", "branch", "kind", "ref", "commit_sha", "idempotency_key",
    "priority", "max_attempts", "config",
}
_WORKER_ID_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,128}\Z")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}\Z")
DEFAULT_HEARTBEAT_TIMEOUT = 300
def _utcnow():
    """Naive UTC with microseconds (Odoo's Datetime.now() drops them)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class OpsRun(models.Model):
    _name = "ops.run"
    _description = "Ops run"
    _order = "id desc"
    _rec_names_search = ["project_id.slug", "number"]

    project_id = fields.Many2one("ops.project", required=True, ondelete="restrict", index=True, readonly=True)
    environment_id = fields.Many2one("ops.environment", ondelete="restrict", index=True, readonly=True)
    stage = fields.Selection(related="environment_id.stage", store=True, string="Stage")
    branch = fields.Char(related="environment_id.branch", string="Branch")
    kind = fields.Selection(RUN_KINDS, required=True, readonly=True, index=True)
    number = fields.Integer(required=True, readonly=True, copy=False)
    state = fields.Selection(RUN_STATES, required=True, default="queued", readonly=True, index=True, copy=False)
    claimed_by = fields.Char("Claimed by (worker)", readonly=True, copy=False)
    claimed_at = fields.Datetime("Claimed at", readonly=True, copy=False)
    heartbeat_at = fields.Datetime("Last heartbeat", readonly=True, copy=False)
    started_at = fields.Datetime("Started at", readonly=True, copy=False)
    finished_at = fields.Datetime("Finished at", readonly=True, copy=False)
    duration = fields.Float("Duration (s)", compute="_compute_duration", store=True, digits=(16, 3))
    duration_display = fields.Char("Duration", compute="_compute_duration_display",
                                   help="From its start (or its claim) to its end; empty until it ends.")
    exit_code = fields.Integer("Exit code", readonly=True, copy=False)
    error_message = fields.Text("Error message", readonly=True, copy=False)
    build_error_id = fields.Many2one("ops.build.error", string="Error group", readonly=True, copy=False, index=True,
                                     help="Failures with the same cause, in this project (same cleaned traceback).")
    result = fields.Selection(RESULTS, readonly=True, copy=False)
    idempotency_key = fields.Char("Idempotency key", readonly=True, copy=False)
    attempt = fields.Integer(default=1, readonly=True, copy=False)
    max_attempts = fields.Integer("Maximum attempts", default=3)
    commit_sha = fields.Char("Commit", readonly=True)
    ref = fields.Char("Git reference", readonly=True)
    requested_by_id = fields.Many2one("res.users", "Requested by", readonly=True, default=lambda self: self.env.user)
    priority = fields.Integer(default=10, help="Higher runs first; equal priorities run oldest first.")
    config = fields.Json("Configuration", readonly=True)
    approved_by_id = fields.Many2one("res.users", "Approved by", readonly=True, copy=False)
    approved_at = fields.Datetime("Approved at", readonly=True, copy=False)
    retry_of_id = fields.Many2one("ops.run", "Retry of", readonly=True, ondelete="set null")
    event_ids = fields.One2many("ops.run.event", "run_id", "Events")
    log_ids = fields.One2many("ops.run.log", "run_id", "Log lines")
    artifact_ids = fields.One2many("ops.run.artifact", "run_id", "Artifacts")
    log_count = fields.Integer("Number of log lines", compute="_compute_log_count")
    log_tail = fields.Text("Log (last 200 lines)", compute="_compute_log_tail")

    _sql_constraints = [
        ("number_uniq", "unique(project_id, number)", "Run numbers are unique per project."),
        ("idempotency_key_uniq", "unique(project_id, idempotency_key)",
         "This idempotency key was already used in this project."),
        ("max_attempts_positive", "check(max_attempts >= 1)", "A run needs at least one attempt."),
    ]

    def init(self):
        # The claim query's index: only queued rows, in claim order.
        self.env.cr.execute("""
            CREATE INDEX IF NOT EXISTS ops_run_claim_idx
                ON ops_run (priority DESC, id) WHERE state = 'queued';
            CREATE INDEX IF NOT EXISTS ops_run_stale_idx
                ON ops_run (heartbeat_at) WHERE state IN ('claimed', 'running');
        """)

    # ------------------------------------------------------------------
    # display and computed fields
    # ------------------------------------------------------------------
    @api.depends("project_id.slug", "number")
    def _compute_display_name(self):
        for run in self:
            run.display_name = "%s#%d" % (run.project_id.slug or "", run.number or 0)

    @api.depends("started_at", "finished_at", "claimed_at")
    def _compute_duration(self):
        for run in self:
            start = run.started_at or run.claimed_at
            run.duration = (run.finished_at - start).total_seconds() if start and run.finished_at else 0.0

    @api.depends("duration", "finished_at", "started_at", "claimed_at")
    def _compute_duration_display(self):
        for run in self:
            ended = run.finished_at and (run.started_at or run.claimed_at)
            run.duration_display = durations.human(run.duration) if ended else False

    def _compute_log_count(self):
        counts = dict(self.env["ops.run.log"]._read_group([("run_id", "in", self.ids)], ["run_id"], ["__count"]))
        for run in self:
            run.log_count = counts.get(run, 0)

    def _compute_log_tail(self):
        for run in self:
            lines = self.env["ops.run.log"].search([("run_id", "=", run.id)], order="id desc", limit=200)
            run.log_tail = "\n".join(line._format_line() for line in reversed(lines))

    # ------------------------------------------------------------------
    # write protection: the state machine is the only way to change a run
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(_("Runs are created with queue_run (buttons, CLI, API), not directly."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            protected = PROTECTED_FIELDS.intersection(vals)
            if protected:
                raise AccessError(
                    _("Only the run methods change %s (use cancel, retry, approve ...).", ", ".join(sorted(protected)))
                )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_audited(self):
        if self.event_ids:
            raise UserError(_("Runs keep their audit trail: a run with events cannot be deleted."))

    # ------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------
    def _lock(self):
        """Row lock on the runs (serialises concurrent state changes)."""
        if self.ids:
            self.env.cr.execute("SELECT id FROM ops_run WHERE id IN %s FOR NO KEY UPDATE", [tuple(self.ids)])
            self.invalidate_recordset()

    def _event(self, kind, message, payload=None):
        """Append to the audit trail (superuser: nobody has create rights on events)."""
        vals = [{"run_id": run.id, "project_id": run.project_id.id, "kind": kind, "message": message,
                 "payload": payload or {},
                 "timestamp": _utcnow(), "user_id": self.env.uid} for run in self]
        # sudo: events are written by the run methods only; nobody has a create right on them
        return self.env["ops.run.event"].sudo().create(vals)

    def _set_state(self, new_state, message=None, payload=None, **vals):
        """Move the runs along the state machine (the only way a run's state
        changes), record the event, then what follows (_ops_state_changed:
        attempts, the workers woken, each kind's own consequences)."""
        before = {run.id: (run.state, run.attempt, run.claimed_by) for run in self}
        for run in self:
            old = run.state
            if new_state not in TRANSITIONS[old]:
                raise UserError(
                    _("Run %(run)s cannot go from %(old)s to %(new)s.",
                      run=run.display_name, old=old, new=new_state)
                )
            # sudo: the state machine itself; the transition was checked just above
            run.sudo().write(dict(vals, state=new_state))
            run._ops_commit_status_after_commit()
            data = {"from": old, "to": new_state}
            data.update(payload or {})
            run._event("state", message or "%s -> %s" % (old, new_state), data)
        self._ops_state_changed(new_state, before, message, payload)

    def _check_worker(self):
        user = self.env.user
        if not (self.env.su or user.has_group("ipai_ops_core.group_ops_worker")
                or user.has_group("ipai_ops_core.group_ops_manager")):
            raise AccessError(_("Only Ops Workers and Ops Managers may execute runs (user %s).", user.login))

    def _check_worker_owns(self, worker_id):
        if worker_id is None:
            return
        for run in self:
            if run.claimed_by and run.claimed_by != worker_id:
                raise UserError(
                    _("Run %(run)s is claimed by worker %(owner)s, not %(worker)s.",
                      run=run.display_name, owner=run.claimed_by, worker=worker_id)
                )

    @api.model
    def _validate_worker_id(self, worker_id):
        if not isinstance(worker_id, str) or not _WORKER_ID_RE.match(worker_id):
            raise ValidationError(_("Invalid worker id %r: 1 to 128 characters of [A-Za-z0-9._:@/-].", worker_id))
        return worker_id

    def _check_acts(self):
        """The current user may act on each run's stage (or is a worker/manager)."""
        for run in self:
            run.check_access("read")
            run.project_id._ops_check_action(run.environment_id.stage, run.kind)

    @staticmethod
    def _dt(value):
        return fields.Datetime.to_string(value) if value else False

    def _api_dict(self, **extra):
        self.ensure_one()
        # sudo: the caller could read the run (record rules); this formats it
        run = self.sudo()
        data = {
            "id": run.id, "name": run.display_name, "number": run.number,
            "project": run.project_id.slug, "project_id": run.project_id.id,
            "environment_id": run.environment_id.id or False, "branch": run.environment_id.branch or False,
            "stage": run.environment_id.stage or False, "kind": run.kind, "state": run.state,
            "priority": run.priority, "attempt": run.attempt, "max_attempts": run.max_attempts,
            "claimed_by": run.claimed_by or False, "commit_sha": run.commit_sha or False, "ref": run.ref or False,
            "idempotency_key": run.idempotency_key or False, "exit_code": run.exit_code,
            "error_message": run.error_message or False, "result": run.result or False,
            "config": run.config or {}, "requested_by": run.requested_by_id.login or False,
            "queued_at": self._dt(run.create_date), "claimed_at": self._dt(run.claimed_at),
            "heartbeat_at": self._dt(run.heartbeat_at), "started_at": self._dt(run.started_at),
            "finished_at": self._dt(run.finished_at), "duration": run.duration,
        }
        data.update(extra)
        return data

    # ------------------------------------------------------------------
    # run queue API (XML-RPC, CLI, UI and workers all call these)
    # ------------------------------------------------------------------
    def _ops_valid(self):
        """The runs a public method was called on, refused clearly when
        their ids are not ids (``["abc"]`` over XML-RPC) or do not exist."""
        return valid_records(self, "Run")

    def api_read(self):
        """The runs as plain dicts (what the CLI shows); normal read access applies."""
        self._ops_valid()
        self.check_access("read")
        data = [run._api_dict() for run in self]
        return data[0] if len(data) == 1 else data


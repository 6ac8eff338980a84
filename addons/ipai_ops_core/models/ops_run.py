import json
import logging
import os
import re
import socket
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone

from odoo import SUPERUSER_ID, _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.service.model import retrying

from ..executors import deploy as deploy_executor
from ..executors import lifecycle
from ..executors.base import RunCanceled, RunFailed
from ..services import github, naming, postgres
from .ops_environment import RESULTS
from .ops_project import validated
from .run_reporter import DbReporter

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
WORKFLOW_KINDS = [
    ("build", "Build"),
    ("test", "Test"),
    ("deploy", "Deploy"),
    ("backup", "Backup"),
    ("restore", "Restore"),
    ("clone", "Clone"),
    ("upgrade", "Upgrade"),
]
RUN_KINDS = WORKFLOW_KINDS + [("start", "Start"), ("stop", "Stop"), ("destroy", "Destroy"),
                              ("drill", "Restore drill"), ("rollback", "Rollback")]
KIND_KEYS = {k for k, _label in RUN_KINDS}
# Fields that only the run methods (in superuser mode) may write.
PROTECTED_FIELDS = {
    "project_id", "environment_id", "kind", "number", "state", "claimed_by", "claimed_at", "heartbeat_at",
    "started_at", "finished_at", "exit_code", "error_message", "idempotency_key", "attempt", "commit_sha",
    "ref", "requested_by_id", "result", "approved_by_id", "approved_at", "retry_of_id",
}
QUEUE_KEYS = {
    "project", "project_id", "environment_id", "branch", "kind", "ref", "commit_sha", "idempotency_key",
    "priority", "max_attempts", "config", "workflow_id",
}
# Config keys only the platform's own methods set (see _ops_queue).
RESERVED_CONFIG = {"promote_environment_id", "image_digest", "promoted_from", "backup_id", "pre_backup_id",
                   "import_path", "import_name"}
_WORKER_ID_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,128}\Z")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}\Z")
DEFAULT_HEARTBEAT_TIMEOUT = 300
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
    workflow_id = fields.Many2one("ops.workflow", ondelete="set null", readonly=True)
    stage = fields.Selection(related="environment_id.stage", store=True, string="Stage")
    branch = fields.Char(related="environment_id.branch", string="Branch")
    kind = fields.Selection(RUN_KINDS, required=True, readonly=True, index=True)
    number = fields.Integer(required=True, readonly=True, copy=False)
    state = fields.Selection(RUN_STATES, required=True, default="queued", readonly=True, index=True, copy=False)
    claimed_by = fields.Char("Claimed by (worker)", readonly=True, copy=False)
    claimed_at = fields.Datetime(readonly=True, copy=False)
    heartbeat_at = fields.Datetime(readonly=True, copy=False)
    started_at = fields.Datetime(readonly=True, copy=False)
    finished_at = fields.Datetime(readonly=True, copy=False)
    duration = fields.Float("Duration (s)", compute="_compute_duration", store=True, digits=(16, 3))
    exit_code = fields.Integer(readonly=True, copy=False)
    error_message = fields.Text(readonly=True, copy=False)
    result = fields.Selection(RESULTS, readonly=True, copy=False)
    idempotency_key = fields.Char(readonly=True, copy=False)
    attempt = fields.Integer(default=1, readonly=True, copy=False)
    max_attempts = fields.Integer(default=3)
    commit_sha = fields.Char("Commit", readonly=True)
    ref = fields.Char(readonly=True)
    requested_by_id = fields.Many2one("res.users", readonly=True, default=lambda self: self.env.user)
    priority = fields.Integer(default=10, help="Higher runs first; equal priorities run oldest first.")
    config = fields.Json(readonly=True)
    approved_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    approved_at = fields.Datetime(readonly=True, copy=False)
    retry_of_id = fields.Many2one("ops.run", readonly=True, ondelete="set null")
    event_ids = fields.One2many("ops.run.event", "run_id", "Events")
    log_ids = fields.One2many("ops.run.log", "run_id", "Log")
    artifact_ids = fields.One2many("ops.run.artifact", "run_id", "Artifacts")
    log_count = fields.Integer(compute="_compute_log_count")
    log_tail = fields.Text(compute="_compute_log_tail")

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

    def unlink(self):
        if self.event_ids:
            raise UserError(_("Runs keep their audit trail: a run with events cannot be deleted."))
        return super().unlink()

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

    def _ops_commit_status_after_commit(self):
        """Post the run's state as a commit status once the transaction
        commits (never from inside it: the HTTP call could outlive a rollback)."""
        # sudo: the project's GitHub token, used server-side only, never returned
        run = self.sudo()
        token = run.project_id.github_token
        state = github.STATES.get(run.state)
        if not (token and state and run.commit_sha and len(run.commit_sha) == 40 and run.environment_id):
            return
        repository = github.repository_of(run.project_id.repo_url)
        if not repository:
            return
        # sudo: configuration parameters are readable by system users only
        api_url = self.env["ir.config_parameter"].sudo().get_param("ipai_ops.github_api_url") or \
            "https://api.github.com"
        args = (api_url, token, repository, run.commit_sha, state, "ipai-ops/%s" % run.environment_id.stage,
                "%s %s: %s" % (run.display_name, run.kind, run.state), run.environment_id.url or None)

        def post():
            try:
                github.post_status(*args)
            except Exception as exc:  # noqa: BLE001 - a status is informative; never fail a run for it
                _logger.warning("ops: commit status for %s not posted: %s", args[3][:12], exc)

        self.env.cr.postcommit.add(post)

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
    def api_read(self):
        """The runs as plain dicts (what the CLI shows); normal read access applies."""
        self.check_access("read")
        data = [run._api_dict() for run in self]
        return data[0] if len(data) == 1 else data

    @api.model
    def queue_run(self, values):
        """Queue a run; idempotent on ``idempotency_key`` (same key, same run).

        ``values``: project (slug or id) or project_id, kind, and optionally
        environment_id or branch (the environment is created from the
        project's branch rules when missing), ref, commit_sha,
        idempotency_key, priority, max_attempts, config (dict), workflow_id.
        Returns the run as a dict, with ``created`` False when the key
        already existed. The config keys the platform itself sets (what a
        promotion, restore or import works on) are refused here: those runs
        are queued by ``promote``, ``restore_backup`` and the import.
        """
        return self._ops_queue(values)

    @api.model
    def _ops_queue(self, values, trusted=False):
        """``queue_run``; ``trusted`` (platform code only, never RPC) lets the
        platform's own config keys through."""
        if not isinstance(values, dict):
            raise ValidationError(_("queue_run expects a dictionary of values."))
        unknown = set(values) - QUEUE_KEYS
        if unknown:
            raise ValidationError(_("Unknown queue_run values: %s", ", ".join(sorted(map(str, unknown)))))
        kind = values.get("kind")
        runnable = sorted(self._ops_executors())
        if kind not in runnable:
            raise ValidationError(_("Run kind %(kind)r cannot be queued: no worker executes it. Kinds that run: "
                                    "%(kinds)s.", kind=kind, kinds=", ".join(runnable)))
        config = values.get("config") or {}
        if not isinstance(config, dict):
            raise ValidationError(_("config must be a dictionary."))
        reserved = sorted(RESERVED_CONFIG.intersection(config)) if not trusted else []
        if reserved:
            raise ValidationError(_("config keys %s are set by the platform (promotions, restores, imports), not "
                                    "by callers.", ", ".join(reserved)))
        project = self._resolve_project(values.get("project_id") or values.get("project"))
        if project.state != "active":
            raise UserError(_("Project %s is archived.", project.slug))
        env = self._resolve_environment(project, values)
        stage = env.stage if env else None
        project._ops_check_action(stage, kind)

        ref = values.get("ref") or (env.branch if env else False)
        sha = values.get("commit_sha") or False
        try:
            if ref:
                naming.validate_ref(ref)
            if sha:
                naming.validate_sha(sha)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        priority = values.get("priority", 10)
        max_attempts = values.get("max_attempts", 3)
        if not isinstance(priority, int) or not -1000 <= priority <= 1000:
            raise ValidationError(_("priority must be an integer between -1000 and 1000."))
        if not isinstance(max_attempts, int) or not 1 <= max_attempts <= 20:
            raise ValidationError(_("max_attempts must be an integer between 1 and 20."))
        workflow = self.env["ops.workflow"]
        if values.get("workflow_id"):
            workflow = self.env["ops.workflow"].browse(int(values["workflow_id"])).exists()
            if not workflow or workflow.project_id != project:
                raise ValidationError(_("Workflow %s does not belong to project %s.", values["workflow_id"],
                                        project.slug))

        key = values.get("idempotency_key") or False
        if key:
            if not isinstance(key, str) or not _KEY_RE.match(key):
                raise ValidationError(_("idempotency_key must be 1 to 200 printable characters without spaces."))
        # The project row lock serialises queueing per project: it makes the
        # run number gap-free and settles races on the idempotency key (the
        # loser of a race is retried by Odoo and then finds the winner's run).
        self.env.cr.execute(
            "UPDATE ops_project SET run_sequence = run_sequence + 1 WHERE id = %s RETURNING run_sequence",
            [project.id],
        )
        number = self.env.cr.fetchone()[0]
        project.invalidate_recordset(["run_sequence"])
        if key:
            # sudo: idempotency is per project, whoever queued the first run; the caller may act here
            existing = self.sudo().search([("project_id", "=", project.id), ("idempotency_key", "=", key)],
                                          limit=1)
            if existing:
                # Give the number back: nothing was queued.
                self.env.cr.execute(
                    "UPDATE ops_project SET run_sequence = run_sequence - 1 WHERE id = %s", [project.id]
                )
                project.invalidate_recordset(["run_sequence"])
                if existing.kind != kind or existing.environment_id != env:
                    raise UserError(_("Idempotency key %(key)s was used for run %(run)s (%(kind)s), not for a "
                                      "%(new)s run.", key=key, run=existing.display_name,
                                      kind=existing.kind, new=kind))
                return existing._api_dict(created=False)

        state = "waiting_approval" if project._ops_needs_approval(stage, kind) else "queued"
        # sudo: users have no create right on runs; the role check above
        # (_ops_check_action) is the gate, and every field is validated.
        run = self.sudo().create({
            "project_id": project.id, "environment_id": env.id or False, "kind": kind, "number": number,
            "state": state, "ref": ref, "commit_sha": sha, "idempotency_key": key, "priority": priority,
            "max_attempts": max_attempts, "config": config, "workflow_id": workflow.id or False,
            "requested_by_id": self.env.uid,
        })
        run._ops_commit_status_after_commit()
        run._event("state", _("Queued by %s", self.env.user.login) if state == "queued"
                   else _("Waiting for approval (requested by %s)", self.env.user.login),
                   {"to": state, "requested_by": self.env.user.login})
        return run._api_dict(created=True)

    @api.model
    def _resolve_project(self, ref):
        Project = self.env["ops.project"]
        if isinstance(ref, bool) or ref is None:
            raise ValidationError(_("A project (slug or id) is required."))
        if isinstance(ref, int):
            project = Project.browse(ref).exists()
        elif isinstance(ref, str):
            project = Project.search([("slug", "=", ref)], limit=1)
            # sudo: only to tell 'not a member' from 'no such project'; nothing is read
            if not project and Project.sudo().search_count([("slug", "=", ref)]):
                raise AccessError(_("You are not a member of project %s.", ref))
        else:
            raise ValidationError(_("A project is given by its slug or id."))
        if not project:
            raise UserError(_("No project %r.", ref))
        project.check_access("read")
        return project

    @api.model
    def _resolve_environment(self, project, values):
        Env = self.env["ops.environment"]
        if values.get("environment_id"):
            env = Env.browse(int(values["environment_id"])).exists()
            if not env or env.project_id != project:
                raise ValidationError(_("Environment %s does not belong to project %s.",
                                        values["environment_id"], project.slug))
            env.check_access("read")
            if env.state == "destroyed":
                raise UserError(_("Environment %s is destroyed.", env.name))
            return env
        branch = values.get("branch")
        if not branch:
            return Env
        validated(naming.validate_branch, branch)
        env = Env.search([("project_id", "=", project.id), ("branch", "=", branch),
                          ("state", "!=", "destroyed")], limit=1)
        if not env:
            stage = project.stage_for_branch(branch)
            project._ops_check_action(stage, "build")
            # sudo: the role check just above decides; runtime fields stay unset.
            env = Env.sudo().create({"project_id": project.id, "branch": branch, "stage": stage}).sudo(False)
        return env

    @api.model
    def claim_next_run(self, worker_id, kinds=None, projects=None):
        """Claim the oldest highest-priority queued run for ``worker_id``.

        Uses ``SELECT ... FOR UPDATE SKIP LOCKED`` in a short READ COMMITTED
        transaction of its own, committed before returning: concurrent
        workers never wait on each other, never claim the same run, and
        never hit serialisation failures on rows claimed meanwhile.
        Returns the claimed run as a dict, or False when the queue is empty.
        """
        self._check_worker()
        self._validate_worker_id(worker_id)
        if kinds is not None:
            if not isinstance(kinds, (list, tuple)) or not set(kinds) <= KIND_KEYS:
                raise ValidationError(_("kinds must be a list of run kinds."))
        if projects is not None:
            if not isinstance(projects, (list, tuple)) or not all(isinstance(p, str) for p in projects):
                raise ValidationError(_("projects must be a list of project slugs."))
        if getattr(threading.current_thread(), "testing", False) or not self.env.registry.ready:
            # Tests run in one transaction that is never committed, and while
            # modules load (demo data) nothing is committed yet: a second
            # cursor would not see the runs, so claim in this transaction.
            return self._claim_in(self.env, worker_id, kinds, projects)
        with self.env.registry.cursor() as cr:
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            env = self.env(cr=cr)
            result = self._claim_in(env, worker_id, kinds, projects)
            env.flush_all()
            cr.commit()
        return result

    @api.model
    def _claim_in(self, env, worker_id, kinds, projects=None):
        env["ops.run"].flush_model(["state", "kind", "priority"])
        query = "SELECT id FROM ops_run WHERE state = 'queued'"
        params = []
        if kinds:
            query += " AND kind = ANY(%s)"
            params.append(list(kinds))
        if projects:
            query += " AND project_id IN (SELECT id FROM ops_project WHERE slug = ANY(%s))"
            params.append(list(projects))
        query += " ORDER BY priority DESC, id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED"
        env.cr.execute(query, params)
        row = env.cr.fetchone()
        if not row:
            return False
        run = env["ops.run"].browse(row[0])
        now = _utcnow()
        run._set_state("claimed", _("Claimed by %s", worker_id), {"worker": worker_id},
                       claimed_by=worker_id, claimed_at=now, heartbeat_at=now)
        return run._api_dict()

    @api.model
    def list_queued_runs(self, limit=100, kinds=None):
        """Queued runs in claim order (what workers would take next)."""
        domain = [("state", "=", "queued")]
        if kinds:
            domain.append(("kind", "in", list(kinds)))
        runs = self.search(domain, order="priority desc, id", limit=max(1, min(int(limit), 1000)))
        return [run._api_dict() for run in runs]

    def start_workflow_run(self, worker_id=None):
        self._check_worker()
        self._lock()
        self._check_worker_owns(worker_id)
        now = _utcnow()
        self._set_state("running", _("Started"), {"worker": worker_id or self.claimed_by},
                        started_at=now, heartbeat_at=now)
        return True

    def heartbeat(self, worker_id=None):
        """Keep claimed or running runs alive. Returns {"<run id>": state}
        (string keys, for XML-RPC), so a worker learns about a cancellation
        on its next heartbeat."""
        self._check_worker()
        self._lock()
        self._check_worker_owns(worker_id)
        live = self.filtered(lambda r: r.state in ("claimed", "running"))
        if live:
            # sudo: a worker's heartbeat (worker group checked above) on the runs it owns
            live.sudo().write({"heartbeat_at": _utcnow()})
        return {str(run.id): run.state for run in self}

    def complete_workflow_run(self, exit_code, error_message=None, worker_id=None, result=None):
        """Finish a run: exit code 0 succeeds, anything else fails.

        ``result`` (ok/warning/failed) may be given by the executor; by
        default a failure is 'failed', a success with warnings or errors in
        its log is 'warning', otherwise 'ok'. The environment records it.
        """
        self._check_worker()
        if not isinstance(exit_code, int):
            raise ValidationError(_("exit_code must be an integer."))
        if result not in (None, False, "ok", "warning", "failed"):
            raise ValidationError(_("result must be ok, warning or failed."))
        self._lock()
        self._check_worker_owns(worker_id)
        for run in self:
            if exit_code != 0:
                outcome = "failed"
            elif result:
                outcome = result
            else:
                # sudo: counts the run's own warnings; the worker may complete it (checked)
                noisy = self.env["ops.run.log"].sudo().search_count(
                    [("run_id", "=", run.id), ("level", "in", ("warn", "error"))], limit=1)
                outcome = "warning" if noisy else "ok"
            new_state = "succeeded" if exit_code == 0 else "failed"
            run._set_state(
                new_state, error_message or (_("Finished with exit code %s", exit_code)),
                {"exit_code": exit_code, "result": outcome},
                exit_code=exit_code, error_message=error_message or False, result=outcome,
                finished_at=_utcnow(),
            )
            if error_message:
                run._event("error", error_message, {"exit_code": exit_code})
            if run.environment_id:
                # sudo: runtime fields are written by runs only
                run.environment_id.sudo().write({"last_run_id": run.id, "last_result": outcome})
        return True

    def append_run_log(self, lines):
        """Append log lines: a string, or a list of strings or dicts
        {level, message, metadata, timestamp}. Returns the number written."""
        self._check_worker()
        self.ensure_one()
        # sudo: workers append log lines (checked above); users have no create right
        return self.env["ops.run.log"].sudo()._append(self, lines)

    def add_run_artifact(self, key, location, sha256=None, content_type=None, size=0, expires_at=None):
        self._check_worker()
        self.ensure_one()
        # sudo: workers record artifacts (checked above); users have no create right
        artifact = self.env["ops.run.artifact"].sudo().create({
            "run_id": self.id, "key": key, "location": location, "sha256": sha256 or False,
            "content_type": content_type or False, "size": int(size or 0), "expires_at": expires_at or False,
        })
        self._event("info", _("Artifact %s recorded", key), {"artifact": key, "location": location})
        return artifact.id

    def cancel_run(self, reason=None):
        """Cancel a run that has not finished. A running run's worker sees
        the cancellation on its next heartbeat and stops its containers."""
        user_is_worker = self.env.user.has_group("ipai_ops_core.group_ops_worker")
        if not user_is_worker:
            self._check_acts()
        self._lock()
        for run in self:
            if run.state not in ACTIVE_STATES:
                raise UserError(_("Run %(run)s is %(state)s and cannot be canceled.", run=run.display_name,
                                  state=run.state))
            run._set_state("canceled", reason or _("Canceled by %s", self.env.user.login),
                           {"by": self.env.user.login}, finished_at=_utcnow())
        return True

    def retry_run(self):
        """Queue a new run with the same parameters as a finished one."""
        self._check_acts()
        results = []
        for run in self:
            if run.state not in ("failed", "canceled", "succeeded"):
                raise UserError(_("Run %s has not finished; only finished runs can be retried.", run.display_name))
            values = {"project_id": run.project_id.id, "kind": run.kind, "priority": run.priority,
                      "max_attempts": run.max_attempts, "config": run.config or {}}
            if run.environment_id and run.environment_id.state != "destroyed":
                values["environment_id"] = run.environment_id.id
            if run.ref:
                values["ref"] = run.ref
            if run.commit_sha:
                values["commit_sha"] = run.commit_sha
            new = self._ops_queue(values, trusted=True)  # the config is the finished run's own
            new_run = self.browse(new["id"])
            # sudo: a protected field of the run the caller just queued
            new_run.sudo().write({"retry_of_id": run.id})
            run._event("info", _("Retried as %s", new_run.display_name), {"retry": new_run.id})
            results.append(new)
        return results[0] if len(results) == 1 else results

    def approve_run(self):
        """Let a run that waits for approval go to the queue (admins, owners)."""
        self._decide_approval(approve=True)
        return True

    def reject_run(self):
        """Cancel a run that waits for approval (admins, owners)."""
        self._decide_approval(approve=False)
        return True

    def _decide_approval(self, approve):
        login = self.env.user.login
        for run in self:
            run.check_access("read")
            run.project_id._ops_check_project_action("approve", _("%(verb)s runs of project %(project)s",
                                                            verb="approve" if approve else "reject",
                                                            project=run.project_id.slug))
        self._lock()
        for run in self:
            if run.state != "waiting_approval":
                raise UserError(_("Run %s is not waiting for approval.", run.display_name))
            if approve:
                run._set_state("queued", _("Approved by %s", login), {"approved_by": login},
                               approved_by_id=self.env.uid, approved_at=_utcnow())
            else:
                run._set_state("canceled", _("Rejected by %s", login), {"rejected_by": login},
                               finished_at=_utcnow())

    # UI buttons (return nothing so the form reloads)
    def action_cancel(self):
        self.cancel_run()

    def action_retry(self):
        new = self.retry_run()
        return {"type": "ir.actions.act_window", "res_model": "ops.run", "res_id": new["id"],
                "view_mode": "form", "target": "current"}

    def action_approve(self):
        self.approve_run()

    def action_reject(self):
        self.reject_run()

    # ------------------------------------------------------------------
    # crons
    # ------------------------------------------------------------------
    @api.model
    def _heartbeat_timeout(self):
        # sudo: configuration parameters are readable by system users only
        value = self.env["ir.config_parameter"].sudo().get_param("ipai_ops.heartbeat_timeout_seconds")
        try:
            return max(10, int(value)) if value else DEFAULT_HEARTBEAT_TIMEOUT
        except ValueError:
            return DEFAULT_HEARTBEAT_TIMEOUT

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
                if run.environment_id:
                    # sudo: the reaper (a cron) records the failed run on its environment
                    run.environment_id.sudo().write({"last_run_id": run.id, "last_result": "failed"})
        if runs:
            _logger.info("ops: reaped %d stale runs (timeout %ss)", len(runs), timeout)
        return len(runs)

    # ------------------------------------------------------------------
    # execution (cron drain and `odoo-bin ops-worker`)
    # ------------------------------------------------------------------
    @api.model
    def _ops_executors(self):
        """Run kind -> executor function; other addons add theirs (backups)."""
        return dict(EXECUTORS)

    @api.model
    def _ops_settings(self):
        """Where environments live: database server, paths, Docker, ports."""
        # sudo: configuration parameters are readable by system users only
        param = self.env["ir.config_parameter"].sudo().get_param
        cfg = tools.config
        data_root = param("ipai_ops.data_root") or os.path.join(cfg["data_dir"], "ipai_ops")
        low, _sep, high = (param("ipai_ops.port_range") or "18100-18999").partition("-")
        return {
            "db": {
                "host": param("ipai_ops.env_db_host") or cfg["db_host"] or "127.0.0.1",
                "port": int(param("ipai_ops.env_db_port") or cfg["db_port"] or 5432),
                "user": param("ipai_ops.env_db_user") or cfg["db_user"],
                "password": param("ipai_ops.env_db_password") or cfg["db_password"],
            },
            "work_root": os.path.join(data_root, "work"),
            "git_cache": os.path.join(data_root, "git"),
            "filestore_root": os.path.join(data_root, "filestore"),
            # environments' configuration files (their credentials): root only
            "secrets_root": os.path.join(data_root, "secrets"),
            "demo_root": os.path.join(data_root, "demo"),
            "port_range": (int(low), int(high or low)),
        }

    @api.model
    def _ops_free_port(self, port_range):
        """A port no live environment uses and nothing listens on (127.0.0.1)."""
        # sudo: ports of every project's environments, so none is given twice
        used = set(self.env["ops.environment"].sudo().search([("state", "!=", "destroyed")]).mapped("port"))
        for port in range(port_range[0], port_range[1] + 1):
            if port in used:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
        raise RunFailed("No free port left in %s-%s (ipai_ops.port_range)" % port_range)

    def _executor_spec(self, host_name="local"):
        """The plain values an executor needs (no records cross this line)."""
        self.ensure_one()
        # sudo: a worker's spec is made by the platform for a claimed run, never returned to users
        run, env, project = self.sudo(), self.sudo().environment_id, self.sudo().project_id
        settings = self._ops_settings()
        # An environment stays on the host it was built on.
        # sudo: hosts are managers' records; the worker needs its endpoint
        host = self.env["ops.host"].sudo().search([("name", "=", env.host or host_name)], limit=1)
        if not host:
            raise RunFailed("No Docker host named %r (Ops > Configuration > Docker hosts)." % (env.host or host_name))
        if not env:
            raise RunFailed("A '%s' run needs an environment." % run.kind)
        project._ops_check_repo_url()
        namespace = naming.namespace_for(self.env.cr.dbname)
        role, password = env._ops_db_credentials()
        for path in (settings["work_root"], settings["git_cache"], settings["filestore_root"]):
            os.makedirs(path, exist_ok=True)
        os.makedirs(settings["secrets_root"], mode=0o700, exist_ok=True)
        os.chmod(settings["secrets_root"], 0o700)
        spec = {
            "namespace": namespace, "project_id": project.id,
            "template_role": naming.template_role_name(namespace, project.id),
            "legacy_role": naming.legacy_role_name(namespace, project.slug),
            "admin_password": env._ops_admin_password(), "secrets_root": settings["secrets_root"],
            "run_id": run.id, "run_number": run.number, "kind": run.kind, "project_slug": project.slug,
            "environment_id": env.id or 0, "branch": env.branch or project.default_branch,
            "stage": env.stage or False, "repo_url": project.repo_url, "ref": run.ref or env.branch,
            "commit_sha": run.commit_sha or None, "tool_image": project.tool_id.image or "ipai-ops/odoo:18.0",
            "modules_mode": project.modules_mode, "module_list": project.module_list or "",
            "test_tags": project.test_tags or None, "mem_limit": "%dm" % project.mem_limit_mb,
            "nano_cpus": int(project.cpu_limit * 1e9), "db": settings["db"], "db_role": role,
            "db_role_password": password, "work_root": settings["work_root"], "git_cache": settings["git_cache"],
            "filestore_root": settings["filestore_root"], "network_mode": host.network_mode,
            "docker_url": host.docker_url, "host": host.name,
            "current": {"container_id": env.container_id or None, "database_name": env.database_name or None,
                        "db_owner": env.db_role or None,
                        "image_digest": env.image_digest or None, "port": env.port or None,
                        "previous_image_digest": env.previous_image_digest or None,
                        "previous_database_name": env.previous_database_name or None,
                        "data_source": env.data_source or None},
        }
        if run.kind in ("build", "deploy", "rollback", "restore"):
            spec["port"] = env.port if env.stage == "production" and env.port else \
                self._ops_free_port(settings["port_range"])
        config = run.config or {}
        spec["mail"] = env._ops_mail_catcher() if env and env.stage != "production" else None
        if env.stage == "staging" and run.kind in ("build", "deploy"):
            spec.update(self._ops_staging_spec(env, spec, config))
        if run.kind == "deploy" and config.get("promote_environment_id"):
            # sudo: the promotion's source; its project is checked just below
            source = self.env["ops.environment"].sudo().browse(config["promote_environment_id"]).exists()
            if source and source.project_id != project:
                raise RunFailed("Refusing to promote %s: it belongs to another project than %s."
                                % (source.name, project.slug))
            if not source or source.image_digest != config.get("image_digest"):
                raise RunFailed("The staging build to promote changed or is gone; promote it again.")
            spec["promote_image"] = config["image_digest"]
            spec["promote_from"] = source.name
        return spec

    def _ops_staging_spec(self, env, spec, config):
        """Where a staging build takes its data from (see executors/staging.py)."""
        project = env.project_id
        production = project.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")
        values = {"staging_source": None, "staging_mode": "copy", "obfuscate": project.staging_obfuscate,
                  "scrub_sql": [line.strip() for line in (project.staging_scrub_sql or "").splitlines()
                                if line.strip() and not line.strip().startswith("--")]}
        if config.get("trigger") == "push" and project.staging_commit_policy == "update" and env.database_name:
            values["staging_mode"] = "update"
        if not production.database_name:
            return values
        prod_store = os.path.join(spec["filestore_root"], project.slug, "env-%d" % production.id, "filestore")
        if project.staging_source == "backup":
            template = naming.verified_copy_name(spec["namespace"], production.id)
            meta = postgres.database_comment(spec["db"], template)  # None when there is no such database
            if not meta:
                raise RunFailed("No verified backup of %s yet: a restore drill has to pass first (Backups)."
                                % production.name)
            meta = json.loads(meta)
            values["staging_source"] = {
                "kind": "template", "database": template, "filestore": os.path.join(prod_store, template),
                # the drill restored it as production's role (see the backup module)
                "owner": production._ops_db_credentials()[0],
                "label": "Production backup taken %s, verified by a restore drill at %s" % (
                    meta.get("taken_at"), meta.get("verified_at"))}
        else:
            values["staging_source"] = {
                "kind": "live", "database": production.database_name, "owner": production.db_role or None,
                "filestore": os.path.join(prod_store, production.database_name),
                "label": "Copy of production (%s) at %s UTC" % (production.database_name,
                                                               fields.Datetime.to_string(fields.Datetime.now()))}
        return values

    def _ops_execute(self, worker_id, host="local"):
        """Execute this claimed run to its end. Commits as it goes (own
        cursors), so call it outside of any transaction that matters."""
        self.ensure_one()
        registry, run_id = self.env.registry, self.id

        def start(run):
            run.start_workflow_run(worker_id)
            try:
                return run.kind, run._executor_spec(host), None
            except RunFailed as exc:
                return run.kind, None, exc

        kind, spec, prepare_error = self._ops_in_cursor(run_id, start)
        executor = self._ops_executors().get(kind)
        exit_code, outcome, error, message = 0, "ok", None, None
        log_dir = os.path.join(self.env["ops.run.artifact"]._artifact_root(), "logs")
        os.makedirs(log_dir, exist_ok=True)
        reporter = DbReporter(registry, run_id, worker_id, log_path=os.path.join(log_dir, "run-%d.log" % run_id))
        try:
            with reporter:
                if prepare_error:
                    raise prepare_error
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

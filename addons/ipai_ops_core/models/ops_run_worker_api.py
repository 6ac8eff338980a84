"""What workers call: claim (SKIP LOCKED), start, heartbeat, log, artifacts, complete."""

import random
import time

from odoo import _, api, models
from odoo.exceptions import ValidationError
from psycopg2 import errors

from .ops_run import _utcnow
from .queue_order import queued_runs

CLAIM_TRIES = 5


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def claim_next_run(self, worker_id, kinds=None, projects=None):
        """Claim the oldest highest-priority queued run for ``worker_id``.

        Uses ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` in a short
        transaction of its own, committed before returning: concurrent
        workers never wait on each other and never claim the same run; a
        serialisation failure on a row claimed meanwhile is retried.
        Returns the claimed run as a dict, or False when the queue is empty.
        """
        self._check_worker()
        self._validate_worker_id(worker_id)
        if kinds is not None:
            known = self._ops_run_kinds()
            if not isinstance(kinds, (list, tuple)) or not all(isinstance(k, str) and k in known for k in kinds):
                raise ValidationError(_("kinds must be a list of run kinds."))
        if projects is not None:
            if not isinstance(projects, (list, tuple)) or not all(isinstance(p, str) for p in projects):
                raise ValidationError(_("projects must be a list of project slugs."))
        if not self.env.registry.ready:
            # While modules load (demo data) nothing is committed yet: a
            # second cursor would not see the runs, so claim in this one.
            return self._claim_in(self.env, worker_id, kinds, projects)
        self.env.flush_all()
        for attempt in range(CLAIM_TRIES):
            try:
                # A transaction of its own (Odoo's REPEATABLE READ): a run
                # another worker claimed and committed after this snapshot
                # cannot be locked (SerializationFailure): try again.
                with self.env.registry.cursor() as cr:
                    env = self.env(cr=cr)
                    result = self._claim_in(env, worker_id, kinds, projects)
                    env.flush_all()  # committed as the cursor closes
                # What the caller's transaction cached of the run is stale.
                self.env.invalidate_all()
                return result
            except (errors.SerializationFailure, errors.DeadlockDetected):
                # A concurrent writer (another worker, the reaper, a cancel)
                # met this claim: try again shortly, never fail the worker.
                if attempt == CLAIM_TRIES - 1:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
        return False

    @api.model
    def _claim_in(self, env, worker_id, kinds, projects=None):
        first = queued_runs(env, kinds, projects, claim=True)
        if not first:
            return False
        run = env["ops.run"].browse(first[0])
        now = _utcnow()
        run._set_state("claimed", _("Claimed by %s", worker_id), {"worker": worker_id},
                       claimed_by=worker_id, claimed_at=now, heartbeat_at=now)
        return run._api_dict()

    def start_workflow_run(self, worker_id=None):
        self._ops_valid()
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
        self._ops_valid()
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
        self._ops_valid()
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
        self._ops_valid()
        self._check_worker()
        self.ensure_one()
        # sudo: workers append log lines (checked above); users have no create right
        return self.env["ops.run.log"].sudo()._append(self, lines)

    def add_run_artifact(self, key, location, sha256=None, content_type=None, size=0, expires_at=None):
        """Record what the run made under ``key``; a later attempt of the same
        run replaces what an earlier one recorded under that key."""
        self._ops_valid()
        self._check_worker()
        self.ensure_one()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError(_("size must be a non-negative integer."))
        values = {"location": location, "sha256": sha256 or False, "content_type": content_type or False,
                  "size": size, "expires_at": expires_at or False}
        # sudo: workers record artifacts (checked above); users have no create right
        Artifact = self.env["ops.run.artifact"].sudo()
        artifact = Artifact.search([("run_id", "=", self.id), ("key", "=", key)], limit=1)
        if artifact:
            artifact.write(values)
            self._event("info", _("Artifact %(key)s replaced (attempt %(attempt)s)", key=key, attempt=self.attempt),
                        {"artifact": key, "location": location})
        else:
            artifact = Artifact.create(dict(values, run_id=self.id, key=key))
            self._event("info", _("Artifact %s recorded", key), {"artifact": key, "location": location})
        return artifact.id

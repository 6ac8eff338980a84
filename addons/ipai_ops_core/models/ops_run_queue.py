"""The run queue API: queue, list, cancel, retry, approve (XML-RPC, CLI, UI)."""

from odoo import _, api, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..services import naming
from . import bulk
from .ops_project import validated
from .ops_run import _KEY_RE, ACTIVE_STATES, QUEUE_KEYS, _utcnow
from .queue_order import queued_runs
from .rpc_args import positive_id


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def queue_run(self, values):
        """Queue a run; idempotent on ``idempotency_key`` (same key, same run).

        ``values``: project (slug or id) or project_id, kind, and optionally
        environment_id or branch (the environment is created from the
        project's branch rules when missing), ref, commit_sha,
        idempotency_key, priority, max_attempts, config (dict).
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
        kinds = self._ops_run_kinds()
        if not isinstance(kind, str) or kind not in kinds:
            raise ValidationError(_("Run kind %(kind)r cannot be queued: no worker executes it. Kinds that run: "
                                    "%(kinds)s.", kind=kind, kinds=", ".join(sorted(kinds))))
        if kinds[kind].trusted_only and not trusted:
            raise ValidationError(_("%s runs are queued from the project's Upgrade tab (upgrade_scan, "
                                    "upgrade_preview, upgrade_production), not with queue_run.", kind))
        config = values.get("config") or {}
        if not isinstance(config, dict):
            raise ValidationError(_("config must be a dictionary."))
        reserved = sorted(self._ops_reserved_config().intersection(config)) if not trusted else []
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

        key = values.get("idempotency_key") or False
        if key:
            if not isinstance(key, str) or not _KEY_RE.match(key):
                raise ValidationError(_("idempotency_key must be 1 to 200 printable characters without spaces."))
        # The project row lock serialises queueing per project: it makes the
        # run number gap-free and settles races on the idempotency key (the
        # loser of a race is retried by Odoo and then finds the winner's run).
        number = project._ops_next_run_number()
        if key:
            # sudo: idempotency is per project, whoever queued the first run; the caller may act here
            existing = self.sudo().search([("project_id", "=", project.id), ("idempotency_key", "=", key)],
                                          limit=1)
            if existing:
                project._ops_give_back_run_number()  # nothing was queued
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
            "max_attempts": max_attempts, "config": config,
            "requested_by_id": self.env.uid,
        })
        if state == "waiting_approval" and kind in ("build", "deploy") and not config.get("promote_environment_id"):
            run._ops_prepare_approval()  # the commit, pinned, and what it changes: what the approver reads
        run._ops_commit_status_after_commit()
        if state == "queued":
            run._ops_wake_workers()
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
            env = Env.browse(positive_id(self.env, values["environment_id"], "environment_id")).exists()
            if not env or env.project_id != project:
                raise ValidationError(_("Environment %(env)s does not belong to project %(project)s.",
                                        env=values["environment_id"], project=project.slug))
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
    def list_queued_runs(self, limit=100, kinds=None):
        """Queued runs in claim order (what workers would take next:
        production and rollbacks first, then the project with the fewest
        runs going on, then priority and age)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError(_("limit must be an integer between 1 and 1000, not %r.", limit))
        known = self._ops_run_kinds()
        if kinds is not None and (not isinstance(kinds, (list, tuple)) or not all(
                isinstance(kind, str) and kind in known for kind in kinds)):
            raise ValidationError(_("kinds must be a list of run kinds (%s).", ", ".join(sorted(known))))
        order = queued_runs(self.env, kinds)
        # The caller's rights filter the list; the order is the workers'.
        visible = self.search([("id", "in", order)])
        return [run._api_dict() for run in sorted(visible, key=lambda r: order.index(r.id))[:limit]]


    def cancel_run(self, reason=None):
        """Cancel a run that has not finished. A running run's worker sees
        the cancellation on its next heartbeat and stops its containers."""
        self._ops_valid()
        if reason is not None and not isinstance(reason, str):
            raise ValidationError(_("reason must be a text."))
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
        self._ops_valid()
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
        self._ops_valid()
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

    # Many at once (server actions): each under the caller's rights, refusals named.
    def action_bulk_cancel(self):
        return bulk.each(self, _("Canceled"), lambda run: run.cancel_run(self.env._("canceled from a list")),
                         _("Nothing canceled"))

    def action_bulk_retry(self):
        return bulk.each(self, _("Retry queued"), lambda run: "run %s" % run.retry_run()["name"], _("No retry queued"))

    def action_bulk_approve(self):
        return bulk.each(self, _("Approved"), lambda run: run.approve_run(), _("Nothing approved"))

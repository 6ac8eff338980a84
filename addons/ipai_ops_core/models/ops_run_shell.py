import hashlib
import hmac
import os
import time

from odoo import _, models
from odoo.exceptions import AccessError, UserError

from .ops_run import _utcnow
from .rpc_args import valid_records

MAX_TRANSCRIPT = 5 * 1024 * 1024  # bytes of a session kept in its transcript


class OpsRun(models.Model):
    """The run side of a shell session (models/ops_environment_shell.py):
    created running, claimed once by the websocket with its token, kept
    alive by the relay, finished with its transcript as an artifact."""

    _inherit = "ops.run"

    def _ops_shell_run(self, env, session):
        """A running ``shell`` run for ``env`` (superuser; callers check the stage)."""
        number = env.project_id._ops_next_run_number()
        now = _utcnow()
        run = self.create({
            "project_id": env.project_id.id, "environment_id": env.id, "kind": "shell", "number": number,
            "state": "running", "claimed_by": "shell", "claimed_at": now, "started_at": now, "heartbeat_at": now,
            "max_attempts": 1, "requested_by_id": self.env.uid, "config": {"shell": session},
        })
        run._event("state", _("Shell opened by %s", session["login"]), {"to": "running", "by": session["login"]})
        return run

    def _ops_shell_claim(self, token):
        """The session a websocket opens with ``token`` (once, within a
        minute), as plain values; AccessError otherwise."""
        self.ensure_one()
        self._lock()
        shell = (self.config or {}).get("shell") or {}
        digest = hashlib.sha256((token or "").encode()).hexdigest()
        if (self.kind != "shell" or self.state != "running" or not shell.get("token_sha256")
                or not hmac.compare_digest(digest, shell["token_sha256"]) or shell.get("expires", 0) < time.time()):
            raise AccessError(_("This shell token is not valid (used, expired or wrong)."))
        env = self.environment_id
        if env.state != "running" or not env.container_id:
            raise UserError(_("%s is not running any more.", env.name))
        self.write({"config": {"shell": dict(shell, token_sha256=False)}})  # single use
        host = self.env["ops.host"]._ops_named(env.host)
        return {"container_id": env.container_id, "docker_url": host.docker_url or None,
                "runtime_kind": host.runtime_kind or "docker",
                "node_endpoints": host._ops_node_endpoints() if host.runtime_kind == "swarm" else None,
                "database": env.database_name, "odoo": shell.get("odoo", False), "tty": shell.get("tty", True),
                "size": (shell.get("rows", 24), shell.get("cols", 80)),
                "idle_timeout": env._ops_shell_idle_timeout(), "login": shell.get("login"),
                "label": "%s/%s" % (env.project_id.slug, env.branch), "stage": env.stage}

    def _ops_shell_heartbeat(self):
        self.write({"heartbeat_at": _utcnow()})

    def _ops_shell_close(self, result, started):
        """Keep the transcript as the run's artifact and finish the run."""
        self.ensure_one()
        root = os.path.join(self.env["ops.run.artifact"]._artifact_root(), "shell")
        os.makedirs(root, mode=0o700, exist_ok=True)
        path = os.path.join(root, "run-%d.txt" % self.id)
        shell = (self.config or {}).get("shell") or {}
        header = ("# ipai ops shell transcript: run %s, environment %s, user %s, %s, started %s UTC\n"
                  % (self.display_name, self.environment_id.name, shell.get("login"),
                     "odoo shell" if shell.get("odoo") else "shell", time.strftime("%Y-%m-%d %H:%M:%S",
                                                                                    time.gmtime(started))))
        body = header.encode() + result["transcript"]
        if result["truncated"]:
            body += b"\n# [transcript truncated at %d bytes]\n" % MAX_TRANSCRIPT
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        self.env["ops.run.artifact"].create({
            "run_id": self.id, "key": "transcript", "location": path, "content_type": "text/plain",
            "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})
        seconds = time.time() - started
        message = _("Shell session ended after %(seconds)d s: %(reason)s (exit code %(code)s); transcript "
                    "%(size)d bytes.", seconds=seconds, reason=result["reason"], code=result["exit_code"],
                    size=len(body))
        self.env["ops.run.log"]._append(self, [{"level": "info", "message": message}])
        if self.state != "running":  # the reaper failed it meanwhile (no heartbeat): keep its verdict
            self._event("info", message, {"reason": result["reason"]})
            return
        self._set_state("succeeded", message, {"exit_code": result["exit_code"], "reason": result["reason"]},
                        exit_code=result["exit_code"], result="ok", finished_at=_utcnow())

    def shell_transcript(self):
        """The transcript of a shell session, for the user who opened it and
        the project's admins."""
        valid_records(self, "Run").ensure_one()
        self.check_access("read")
        if self.kind != "shell":
            raise UserError(_("Run %s is not a shell session.", self.display_name))
        if self.requested_by_id != self.env.user:
            self.project_id._ops_check_action(False, "settings")  # project admins and owners
        artifact = self.sudo().artifact_ids.filtered(lambda a: a.key == "transcript")  # sudo: checked above
        if not artifact:
            raise UserError(_("Run %s has no transcript (yet).", self.display_name))
        fd = os.open(artifact.location, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

"""GitHub-style webhooks: push, ping and delete.

POST /ipai_ops/webhook with the git host's JSON payload. The project is
found by the payload's repository URLs; the signature (X-Hub-Signature-256,
HMAC-SHA256 of the body with the project's secret) is checked in constant
time before anything is queued. Answers: 401 without a signature, 403 with a
wrong one, 400 for a malformed payload, 200 for what was done (or why an
event was ignored). An unknown repository gets the very answer a wrong
signature gets (after the same HMAC work): nobody learns from this endpoint
which repositories the control plane manages.
"""
import hashlib
import hmac
import json
import logging
import secrets

from odoo import SUPERUSER_ID, http
from odoo.exceptions import UserError
from odoo.http import request

_logger = logging.getLogger(__name__)
MAX_BODY = 5 * 1024 * 1024
ZERO_SHA = "0" * 40


def _reply(status, **data):
    return request.make_json_response(data, status=status)


def _signature_ok(secret, body, header):
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), (header or "").encode())


class OpsWebhook(http.Controller):
    @http.route("/ipai_ops/webhook", type="http", auth="none", methods=["POST"], csrf=False, save_session=False)
    def webhook(self, **_kwargs):
        req = request.httprequest
        event = req.headers.get("X-GitHub-Event", "")
        delivery = (req.headers.get("X-GitHub-Delivery") or "")[:100]
        signature = req.headers.get("X-Hub-Signature-256")
        if not signature:
            return _reply(401, error="missing X-Hub-Signature-256")
        if (req.content_length or 0) > MAX_BODY:
            return _reply(413, error="payload too large")
        body = req.get_data(cache=False)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            return _reply(400, error="malformed JSON payload")
        repo = payload.get("repository")
        if not isinstance(repo, dict):
            return _reply(400, error="payload has no repository")
        # Superuser: the event is authenticated by its signature below, before
        # anything is queued; reading the projects' secrets needs it.
        env = request.env(user=SUPERUSER_ID, su=True)
        urls = [repo.get(k) for k in ("clone_url", "ssh_url", "git_url", "html_url", "url")]
        projects = env["ops.project"]._ops_projects_for_repository(urls)
        # Only projects whose secret signed this body; none (or no project at
        # all, checked against a throwaway secret): forbidden, the same way.
        signed = projects.filtered(lambda p: p.webhook_secret and _signature_ok(p.webhook_secret, body, signature))
        if not projects:
            _signature_ok(secrets.token_hex(24), body, signature)
            _logger.info("ops webhook: %s event for unknown repository %s refused", event, repo.get("full_name"))
        if not signed:
            return _reply(403, error="signature does not match")
        if event == "ping":
            return _reply(200, ok=True, projects=signed.mapped("slug"))
        results = {}
        try:
            for project in signed:
                results[project.slug] = self._handle(project, event, payload, delivery)
        except (ValueError, UserError) as exc:
            request.env.cr.rollback()
            return _reply(400, error=str(exc))
        return _reply(200, ok=True, results=results)

    def _handle(self, project, event, payload, delivery):
        if event == "push":
            ref = payload.get("ref")
            if not isinstance(ref, str) or not ref.startswith("refs/heads/"):
                return "ignored: %s is not a branch" % ref
            branch = ref[len("refs/heads/"):]
            after = payload.get("after")
            if payload.get("deleted") or after == ZERO_SHA:
                return project._ops_on_delete(branch, "delete:%s:%s" % (branch, delivery or payload.get("before")))
            if not isinstance(after, str):
                raise ValueError("push without an 'after' commit")
            return project._ops_on_push(branch, after, "push:%s:%s" % (branch, after))
        if event == "delete":
            if payload.get("ref_type") != "branch":
                return "ignored: deleted %s" % payload.get("ref_type")
            branch = payload.get("ref")
            if not isinstance(branch, str):
                raise ValueError("delete without a ref")
            return project._ops_on_delete(branch, "delete:%s:%s" % (branch, delivery or "event"))
        return "ignored: %s events are not used" % (event or "unnamed")

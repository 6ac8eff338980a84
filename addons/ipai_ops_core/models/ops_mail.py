import email
import email.policy
import hashlib
import hmac

from odoo import api, fields, models

from . import secret_fields


class OpsMail(models.Model):
    """A message a development or staging environment sent: kept by the
    mail catcher, never delivered."""

    _name = "ops.mail"
    _description = "Ops caught mail"
    _order = "id desc"

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True,
                                     readonly=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    mail_from = fields.Char("From", readonly=True)
    recipients = fields.Char(readonly=True)
    subject = fields.Char(readonly=True)
    body = fields.Text(readonly=True)
    raw = fields.Text("Raw message", readonly=True)
    size = fields.Integer(readonly=True)

    @api.model
    def _ops_secret(self, environment_id):
        """The mail catcher password of environment ``environment_id``:
        derived from the key file (secret_fields), not from anything in the
        database, so a dump of it does not give the logins away."""
        secret = secret_fields.derive(b"mail-catcher")
        return hmac.new(secret, b"ipai-ops-mail-%d" % int(environment_id), hashlib.sha256).hexdigest()[:32]

    @api.model
    def _ops_authenticate(self, user, password):
        """The environment id of an SMTP login env-<id> with its password."""
        if not user.startswith("env-") or not user[4:].isdigit():
            return None
        env_id = int(user[4:])
        if not hmac.compare_digest(self._ops_secret(env_id), password or ""):
            return None
        # sudo: the mail catcher (no user) checks the environment of a verified login
        return env_id if self.env["ops.environment"].sudo().browse(env_id).exists() else None

    @api.model
    def _ops_store(self, environment_id, mail_from, rcpts, data):
        message = email.message_from_bytes(data, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part else ""
        # sudo: the mail catcher stores what an authenticated environment sent
        return self.sudo().create({
            "environment_id": environment_id, "mail_from": mail_from or str(message.get("From") or ""),
            "recipients": ", ".join(rcpts)[:2000], "subject": str(message.get("Subject") or "")[:500],
            "body": body[:200000], "raw": data.decode("utf-8", "replace")[:2000000], "size": len(data),
        })

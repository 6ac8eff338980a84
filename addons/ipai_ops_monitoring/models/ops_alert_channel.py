from urllib.parse import urlparse

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.models.secret_fields import SecretChar
from odoo.exceptions import ValidationError


class OpsAlertChannel(models.Model):
    """Where incidents are announced beyond the environment's chatter and
    the activity for project admins: e-mail (Odoo's mail) or a webhook (JSON,
    Slack-compatible, signed with HMAC-SHA256). Global (Ops managers) or per
    project (its admins). The secret is never readable by non-managers."""

    _name = "ops.alert.channel"
    _description = "Ops alert channel"
    _order = "project_id, name"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    project_id = fields.Many2one("ops.project", ondelete="cascade", index=True,
                                 help="Empty: incidents of every project (Ops managers only).")
    kind = fields.Selection([("webhook", "Webhook"), ("email", "E-mail")], required=True, default="webhook")
    url = fields.Char("Webhook URL")
    secret = SecretChar(groups="ipai_ops_core.group_ops_manager", copy=False,
                         help="Signs each delivery: header X-Ipai-Ops-Signature: sha256=<HMAC-SHA256 of the body>.")
    new_secret = fields.Char("Signing secret", compute="_compute_new_secret", inverse="_inverse_new_secret",
                             help="Write-only: who may manage the channel sets it; only Ops managers read it back.")
    has_secret = fields.Boolean("Secret set", compute="_compute_new_secret")
    email_to = fields.Char("E-mail to")
    min_severity = fields.Selection([("info", "Info"), ("warning", "Warning"), ("critical", "Critical")],
                                    "Minimum severity", default="warning", required=True)

    def _compute_new_secret(self):
        for channel in self:
            channel.new_secret = False
            # sudo: whether a secret is set, never its value
            channel.has_secret = bool(channel.sudo().secret)

    def _inverse_new_secret(self):
        for channel in self.filtered("new_secret"):
            # sudo: the caller may write this channel (record rules); the secret stays unreadable to them
            channel.sudo().secret = channel.new_secret

    @api.constrains("kind", "url", "email_to")
    def _check_target(self):
        for channel in self:
            if channel.kind == "webhook":
                parsed = urlparse(channel.url or "")
                if parsed.scheme not in ("http", "https") or not parsed.hostname:
                    raise ValidationError(_("%(name)s: a webhook URL is http:// or https:// with a host, not %(url)r.",
                                            name=channel.name, url=channel.url))
            elif not channel.email_to or "@" not in channel.email_to:
                raise ValidationError(_("%s: an e-mail channel needs an address.", channel.name))

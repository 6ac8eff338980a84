from datetime import timedelta

from odoo import _, api, fields, models
from odoo.addons.ipai_ops_core.models import durations
from odoo.addons.ipai_ops_core.models.rpc_args import valid_records
from odoo.exceptions import UserError
from odoo.tools import html_escape

from ..services import webhook

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class OpsIncident(models.Model):
    """Something wrong with an environment, opened by an alert rule, with
    its evidence (the samples or log lines that triggered it); at most one
    open per rule and environment; it resolves itself when the condition
    clears. People acknowledge it; the channels hear of its opening and its
    resolution."""

    _name = "ops.incident"
    _description = "Ops incident"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "opened_at desc, id desc"
    _mail_post_access = "read"  # whoever may see an incident may comment on it

    name = fields.Char(required=True, readonly=True)
    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True, readonly=True)
    project_id = fields.Many2one("ops.project", required=True, ondelete="cascade", index=True, readonly=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    rule_id = fields.Many2one("ops.alert.rule", required=True, ondelete="cascade", index=True, readonly=True)
    severity = fields.Selection(related="rule_id.severity", store=True)
    state = fields.Selection([("open", "Open"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved")],
                             required=True, default="open", readonly=True, index=True, tracking=True)
    opened_at = fields.Datetime("Opened at", required=True, readonly=True, default=fields.Datetime.now)
    acknowledged_by_id = fields.Many2one("res.users", "Acknowledged by", readonly=True)
    acknowledged_at = fields.Datetime("Acknowledged at", readonly=True)
    resolved_at = fields.Datetime("Resolved at", readonly=True)
    duration_minutes = fields.Float("Duration (minutes)", compute="_compute_duration", store=True)
    duration_display = fields.Char("Duration", compute="_compute_duration_display",
                                   help="From its opening to its resolution; empty while it is not resolved.")
    evidence = fields.Text(readonly=True)
    last_notified_at = fields.Datetime("Last notified at", readonly=True)
    delivery_ids = fields.One2many("ops.alert.delivery", "incident_id", "Deliveries", readonly=True)
    last_seen_at = fields.Datetime("Last seen at", readonly=True, help="The last time the condition was seen")

    def init(self):
        # At most one incident not resolved per rule and environment.
        self.env.cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS ops_incident_one_open
                               ON ops_incident (rule_id, environment_id) WHERE state <> 'resolved'""")

    @api.depends("opened_at", "resolved_at")
    def _compute_duration(self):
        for incident in self:
            end = incident.resolved_at
            incident.duration_minutes = (end - incident.opened_at).total_seconds() / 60 if end else 0.0

    @api.depends("duration_minutes", "resolved_at")
    def _compute_duration_display(self):
        for incident in self:
            incident.duration_display = durations.human(incident.duration_minutes * 60) if incident.resolved_at \
                else False

    def acknowledge(self):
        """I have seen it (XML-RPC, ``ops incident ack``, the button)."""
        valid_records(self, "Incident")
        for incident in self:
            incident.check_access("read")
            incident.project_id._ops_check_action(incident.stage, "monitoring")
            if incident.state != "open":
                raise UserError(_("Incident %(incident)s is %(state)s, not open.", incident=incident.id,
                                  state=incident.state))
        # sudo: the state machine; the caller may monitor each (checked above)
        self.sudo().write({"state": "acknowledged", "acknowledged_by_id": self.env.uid,
                           "acknowledged_at": fields.Datetime.now()})
        for incident in self:
            # sudo: the note of who acknowledged it (the caller may monitor it, checked above)
            incident.sudo().message_post(body=_("Acknowledged by %s.", self.env.user.name))
        return True

    @api.model
    def list_incidents(self, open_only=False, limit=100):
        """``ops incident list``: the incidents the caller may see, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise UserError(_("limit is a number from 1 to 1000."))
        domain = [("state", "!=", "resolved")] if open_only else []
        return self.search_read(domain, ["name", "project_id", "environment_id", "stage", "severity", "state",
                                         "opened_at", "acknowledged_by_id", "resolved_at", "evidence"], limit=limit)

    def _ops_resolve(self, why):
        self.write({"state": "resolved", "resolved_at": fields.Datetime.now()})
        self.activity_ids.action_feedback(feedback=_("Resolved by itself: %s", why))
        self._ops_notify("resolve", why)

    def _ops_notify(self, event, why=None):
        """Chatter on the incident and its environment; the channels of its
        severity: e-mail through Odoo's mail queue, webhooks as deliveries
        (sent by their cron, never here)."""
        self.ensure_one()
        title = {"open": _("Incident opened"), "repeat": _("Incident still open"),
                 "resolve": _("Incident resolved")}[event]
        text = "%s: %s (%s, %s)%s" % (title, self.name, self.severity, self.stage,
                                      ": %s" % why if why else "")
        body = "<p>%s</p>%s" % (html_escape(text), "<pre>%s</pre>" % html_escape(self.evidence or "")
                                if event == "open" and self.evidence else "")
        self.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")
        self.environment_id.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")
        # sudo: every channel that covers the project, secrets included, is the platform's to use
        channels = self.env["ops.alert.channel"].sudo().search([("project_id", "in", (False, self.project_id.id))])
        payload = {"text": text, "event": event, "incident": self.id, "rule": self.rule_id.name,
                   "severity": self.severity, "project": self.project_id.slug, "environment": self.environment_id.name,
                   "stage": self.stage, "state": self.state, "opened_at": fields.Datetime.to_string(self.opened_at),
                   "evidence": (self.evidence or "")[:4000]}
        for channel in channels.filtered(lambda c: SEVERITY_RANK[c.min_severity] <= SEVERITY_RANK[self.severity]):
            if channel.kind == "webhook":
                # sudo: deliveries are written by the platform only
                self.env["ops.alert.delivery"].sudo().create({
                    "incident_id": self.id, "channel_id": channel.id, "event": event, "payload": payload,
                    "next_attempt_at": fields.Datetime.now()})
            else:
                # sudo: queued for Odoo's mail cron, to the channel's address only
                self.env["mail.mail"].sudo().create({
                    "subject": "[ipai ops] %s" % text[:200], "email_to": channel.email_to, "body_html": body,
                    "auto_delete": False})
        self.write({"last_notified_at": fields.Datetime.now()})

    @api.model
    def _cron_deliver(self):
        """Send the webhook deliveries that are due; a failed one is retried
        after 1, 2, 4, 8 and 16 minutes, then marked failed."""
        # sudo: the delivery cron sends every project's webhooks
        due = self.env["ops.alert.delivery"].sudo().search([("state", "=", "pending"),
                                                            ("next_attempt_at", "<=", fields.Datetime.now())],
                                                           limit=200, order="id")
        for delivery in due:
            channel = delivery.channel_id.sudo()  # sudo: its secret signs the body; it never leaves the server
            sent, status = webhook.send(channel.url, delivery.payload, channel.secret)
            attempts = delivery.attempts + 1
            values = {"attempts": attempts, "last_status": status}
            if sent:
                values.update(state="sent", sent_at=fields.Datetime.now())
            elif attempts > len(webhook.BACKOFF_MINUTES):
                values.update(state="failed")
                delivery.incident_id.message_post(body=_("Webhook %(channel)s failed after %(n)d attempts: %(status)s",
                                                         channel=channel.name, n=attempts, status=status))
            else:
                values["next_attempt_at"] = fields.Datetime.now() + timedelta(
                    minutes=webhook.BACKOFF_MINUTES[attempts - 1])
            delivery.write(values)
        return len(due)

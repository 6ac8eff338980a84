import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..services import tls
from .secret_fields import SecretText

_logger = logging.getLogger(__name__)
ALERT_DAYS = 14


class OpsCertificate(models.Model):
    """A TLS certificate and its key for the front door. A project's
    certificate covers that project's names (its environments' and its
    production's custom domains), uploaded by its admins; one without a
    project covers any name of the platform (a wildcard for a project's
    branches under the base domain), uploaded by Ops managers. The key is
    written, never read back: only the platform reads it to give it to
    nginx."""

    _name = "ops.certificate"
    _description = "Ops TLS certificate"
    _inherit = ["mail.thread"]
    _order = "not_after desc, id desc"

    name = fields.Char(compute="_compute_name", store=True)
    project_id = fields.Many2one("ops.project", index=True, ondelete="cascade", tracking=True,
                                 help="Empty: a certificate of the platform (Ops managers), for any of its names.")
    certificate = fields.Text(required=True, help="PEM: the server's certificate, then its intermediates.")
    private_key = SecretText(groups="base.group_system", copy=False)  # encrypted at rest
    private_key_upload = fields.Text("Private key", compute="_compute_private_key_upload",
                                     inverse="_inverse_private_key_upload",
                                     help="PEM, without a passphrase. Kept by the platform and never shown again.")
    names = fields.Char("Names covered", readonly=True)
    not_after = fields.Datetime("Expires", readonly=True, tracking=True)
    issuer = fields.Char(readonly=True)
    fingerprint = fields.Char("SHA-256 fingerprint", readonly=True)
    days_left = fields.Integer("Days left", compute="_compute_days_left")
    expiry_alerted = fields.Datetime("Expiry announced at", readonly=True, copy=False,
                                     help="When the expiry was announced (for this expiry date).")

    _sql_constraints = [
        ("fingerprint_uniq", "unique(fingerprint, project_id)", "This certificate was already uploaded."),
    ]

    @api.depends("names")
    def _compute_name(self):
        for cert in self:
            cert.name = (cert.names or "").split(",")[0] or _("Certificate")

    def _compute_private_key_upload(self):
        for cert in self:
            cert.private_key_upload = False

    def _inverse_private_key_upload(self):
        for cert in self:
            if cert.private_key_upload:
                cert.sudo().private_key = cert.private_key_upload  # sudo: the key is the platform's to read

    @api.depends("not_after")
    def _compute_days_left(self):
        now = fields.Datetime.now()
        for cert in self:
            cert.days_left = (cert.not_after - now).days if cert.not_after else 0

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._ops_check_upload(vals.get("project_id"))
            vals.update(self._ops_inspect(vals.get("certificate"), vals.get("private_key_upload")))
        certs = super().create(vals_list)
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return certs

    def write(self, vals):
        for cert in self:
            cert._ops_check_upload(cert.project_id.id)
            if "project_id" in vals:
                self._ops_check_upload(vals["project_id"])
        if {"certificate", "private_key_upload"} & set(vals):
            for cert in self:
                key = vals.get("private_key_upload") or cert.sudo().private_key  # sudo: checked against the new one
                values = self._ops_inspect(vals.get("certificate", cert.certificate), key)
                super(OpsCertificate, cert).write(dict(vals, expiry_alerted=False, **values))
            result = True
        else:
            result = super().write(vals)
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return result

    def unlink(self):
        for cert in self:
            cert._ops_check_upload(cert.project_id.id)
        result = super().unlink()
        self.env["ops.environment"]._ops_proxy_reload_after_commit()
        return result

    def _ops_check_upload(self, project_id):
        if self.env.su:
            return
        if not project_id:
            if not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
                raise AccessError(_("Only Ops managers manage the platform's certificates (those of no project)."))
            return
        self.env["ops.project"].browse(project_id)._ops_check_project_action(
            "settings", _("manage the TLS certificates of this project"))

    @api.model
    def _ops_inspect(self, certificate, key):
        if not key:
            raise ValidationError(_("A certificate needs its private key (PEM)."))
        try:
            info = tls.inspect(certificate, key, now=tls.utcnow())
        except tls.CertificateError as exc:
            raise ValidationError(str(exc)) from exc
        return {"certificate": info["chain"], "names": ",".join(info["names"]), "not_after": info["not_after"],
                "issuer": info["issuer"], "fingerprint": info["fingerprint"]}

    def _ops_covers(self, hostname):
        self.ensure_one()
        return tls.covers((self.names or "").split(","), hostname)

    @api.model
    def _cron_announce_expiry(self):
        """Announce, once per expiry date, a certificate that expires within
        14 days: a message on it and on each environment it covers, which
        reaches their followers (and the monitoring's alerts when installed)."""
        soon = fields.Datetime.now() + timedelta(days=ALERT_DAYS)
        # sudo: the cron looks at every project's certificates
        certs = self.sudo().search([("not_after", "<=", soon), ("expiry_alerted", "=", False)])
        envs = self.env["ops.environment"].sudo().search([("state", "!=", "destroyed"), ("hostname", "!=", False)])
        for cert in certs:
            body = _("The TLS certificate for %(names)s expires on %(date)s (UTC), in %(days)d days: renew it "
                     "(certbot renew, or upload the new one).", names=cert.names,
                     date=cert.not_after, days=max(cert.days_left, 0))
            cert.message_post(body=body, subtype_xmlid="mail.mt_comment")
            for env in envs.filtered(lambda e, c=cert: c in e._ops_certificates().values()):
                env.message_post(body=body, subtype_xmlid="mail.mt_comment")
            cert.expiry_alerted = fields.Datetime.now()
        return len(certs)

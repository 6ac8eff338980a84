import logging
import os
import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

_logger = logging.getLogger(__name__)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_KEY_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}\Z")


class OpsRunArtifact(models.Model):
    """A file or object a run produced (image digest, log file, dump, ...)."""

    _name = "ops.run.artifact"
    _description = "Ops run artifact"
    _order = "run_id, key"

    run_id = fields.Many2one("ops.run", required=True, ondelete="cascade", index=True, readonly=True)
    project_id = fields.Many2one(related="run_id.project_id", store=True, index=True)
    key = fields.Char(required=True, readonly=True)
    location = fields.Char(required=True, readonly=True, help="Absolute path, s3://bucket/key, docker image ...")
    sha256 = fields.Char("SHA-256", readonly=True)
    content_type = fields.Char("Content type", readonly=True)
    size = fields.Integer("Size (bytes)", readonly=True)
    expires_at = fields.Datetime("Expires at", readonly=True, index=True)

    _sql_constraints = [
        ("run_key_uniq", "unique(run_id, key)", "An artifact with this key already exists for this run."),
        ("size_positive", "check(size >= 0)", "Artifact size cannot be negative."),
    ]

    @api.constrains("key", "sha256", "location")
    def _check_values(self):
        for artifact in self:
            if not _KEY_RE.match(artifact.key or ""):
                raise ValidationError(_("Invalid artifact key %r: use [A-Za-z0-9._:/-].", artifact.key))
            if artifact.sha256 and not _SHA256_RE.match(artifact.sha256):
                raise ValidationError(_("Invalid sha256 %r: 64 lowercase hex digits.", artifact.sha256))
            if not artifact.location or len(artifact.location) > 2048:
                raise ValidationError(_("An artifact needs a location."))

    @api.model
    def _artifact_root(self):
        """Only files under this directory are ever removed by the cleanup cron."""
        # sudo: configuration parameters are readable by system users only
        return self.env["ir.config_parameter"].sudo().get_param("ipai_ops.artifact_root") or os.path.join(
            self.env["ir.attachment"]._filestore(), "ipai_ops_artifacts"
        )

    def _remove_file(self):
        self.ensure_one()
        root = os.path.realpath(self._artifact_root())
        path = os.path.realpath(self.location) if self.location.startswith("/") else None
        if not path:
            return False
        if os.path.commonpath([root, path]) != root:
            _logger.warning("ops: artifact %s of run %s is outside %s; file kept", self.key, self.run_id.id, root)
            return False
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False

    @api.model
    def _cron_remove_expired(self, limit=1000):
        """Delete expired artifacts and their files (under the artifact root)."""
        expired = self.search([("expires_at", "!=", False), ("expires_at", "<", fields.Datetime.now())],
                              limit=limit)
        removed = 0
        for artifact in expired:
            removed += bool(artifact._remove_file())
        count = len(expired)
        expired.unlink()
        if count:
            _logger.info("ops: removed %d expired artifacts (%d files)", count, removed)
        return count

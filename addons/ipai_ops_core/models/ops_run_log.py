from datetime import datetime

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

LOG_LEVELS = [("debug", "Debug"), ("info", "Info"), ("warn", "Warning"), ("error", "Error")]
# Odoo's (and Python's) level names to ours.
LEVEL_MAP = {
    "debug": "debug", "info": "info", "warn": "warn", "warning": "warn", "error": "error",
    "critical": "error", "fatal": "error", "runbot": "info", "notset": "debug",
}
MAX_MESSAGE = 65536
MAX_LINES_PER_CALL = 10000


class OpsRunLog(models.Model):
    """One log line of a run. Built for millions of rows: the tail of a
    run is an index range scan on (run_id, id), and text search over
    messages uses a trigram GIN index."""

    _name = "ops.run.log"
    _description = "Ops run log line"
    _order = "run_id, id"
    _log_access = False

    run_id = fields.Many2one("ops.run", required=True, ondelete="cascade", readonly=True)
    project_id = fields.Many2one("ops.project", readonly=True, index=True)
    level = fields.Selection(LOG_LEVELS, required=True, default="info", readonly=True)
    message = fields.Text(readonly=True)
    metadata = fields.Json(readonly=True)
    timestamp = fields.Datetime(required=True, readonly=True, default=lambda self: datetime.utcnow())

    def init(self):
        cr = self.env.cr
        cr.execute("CREATE INDEX IF NOT EXISTS ops_run_log_run_id_id_idx ON ops_run_log (run_id, id)")
        cr.execute("CREATE INDEX IF NOT EXISTS ops_run_log_run_level_idx ON ops_run_log (run_id, level) "
                   "WHERE level IN ('warn', 'error')")
        # pg_trgm is a trusted extension: the database owner may create it.
        cr.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if not cr.fetchone():
            try:
                with cr.savepoint():
                    cr.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except Exception:  # noqa: BLE001 - no privilege: fall back to a sequential scan
                return
        cr.execute("CREATE INDEX IF NOT EXISTS ops_run_log_message_trgm_idx "
                   "ON ops_run_log USING gin (message gin_trgm_ops)")

    def _format_line(self):
        self.ensure_one()
        ts = self.timestamp.strftime("%H:%M:%S") if self.timestamp else ""
        return "%s %-5s %s" % (ts, (self.level or "").upper(), self.message or "")

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(_("Run logs are written through append_run_log by workers."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(_("Run logs cannot be edited."))
        return super().write(vals)

    @api.model
    def _append(self, run, lines):
        """Validate and insert ``lines`` for ``run`` in one batch."""
        if isinstance(lines, (str, dict)):
            lines = [lines]
        if not isinstance(lines, (list, tuple)):
            raise ValidationError(_("Log lines must be a string or a list."))
        if len(lines) > MAX_LINES_PER_CALL:
            raise ValidationError(_("At most %s log lines per call.", MAX_LINES_PER_CALL))
        now = datetime.utcnow()
        vals_list = []
        for line in lines:
            if isinstance(line, str):
                line = {"message": line}
            if not isinstance(line, dict):
                raise ValidationError(_("A log line is a string or a dictionary."))
            level = LEVEL_MAP.get(str(line.get("level") or "info").lower())
            if not level:
                raise ValidationError(_("Unknown log level %r.", line.get("level")))
            message = line.get("message")
            if not isinstance(message, str):
                message = "" if message is None else str(message)
            metadata = line.get("metadata") or False
            if metadata and not isinstance(metadata, dict):
                raise ValidationError(_("Log metadata must be a dictionary."))
            timestamp = now
            if line.get("timestamp"):
                try:
                    timestamp = fields.Datetime.to_datetime(line["timestamp"])
                except ValueError as exc:
                    raise ValidationError(_("Invalid log timestamp %r.", line["timestamp"])) from exc
            vals_list.append({
                "run_id": run.id, "project_id": run.project_id.id, "level": level,
                "message": message[:MAX_MESSAGE], "metadata": metadata, "timestamp": timestamp,
            })
        self.create(vals_list)
        run._ops_notify_changed()  # the run form shows the new lines
        return len(vals_list)

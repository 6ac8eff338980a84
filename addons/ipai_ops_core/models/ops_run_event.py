from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from ..services.jsonutil import json_text

EVENT_KINDS = [("state", "State change"), ("error", "Error"), ("warning", "Warning"), ("info", "Info")]


class OpsRunEvent(models.Model):
    """Append-only audit trail of a run.

    Events are written by the run methods only. Nobody edits or deletes
    one, Ops Managers and the superuser included: the ORM refuses, and a
    database trigger refuses UPDATE and DELETE for any client.
    """

    _name = "ops.run.event"
    _description = "Ops run event"
    _order = "timestamp, id"
    _log_access = True

    run_id = fields.Many2one("ops.run", required=True, ondelete="restrict", index=True, readonly=True)
    # Set at creation (not a stored related field: recomputing it would be an UPDATE).
    project_id = fields.Many2one("ops.project", required=True, readonly=True, index=True, ondelete="restrict")
    kind = fields.Selection(EVENT_KINDS, required=True, readonly=True)
    message = fields.Text(readonly=True)
    payload = fields.Json(readonly=True)
    payload_text = fields.Text("Payload (JSON)", compute="_compute_payload_text")
    timestamp = fields.Datetime(required=True, readonly=True, help="UTC, with microseconds")
    timestamp_us = fields.Char("Timestamp (µs)", compute="_compute_timestamp_us")
    user_id = fields.Many2one("res.users", readonly=True)

    def init(self):
        self.env.cr.execute("""
            CREATE OR REPLACE FUNCTION ops_run_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'ops_run_event is append-only: % is not allowed', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS ops_run_event_append_only ON ops_run_event;
            CREATE TRIGGER ops_run_event_append_only BEFORE UPDATE OR DELETE ON ops_run_event
                FOR EACH ROW EXECUTE FUNCTION ops_run_event_append_only();
        """)

    def _compute_timestamp_us(self):
        for event in self:
            event.timestamp_us = event.timestamp.isoformat(sep=" ", timespec="microseconds") if event.timestamp \
                else False

    def _compute_payload_text(self):
        for event in self:
            event.payload_text = json_text(event.payload)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(_("Run events are written by the run methods only."))
        return super().create(vals_list)

    def write(self, vals):
        if vals:
            raise AccessError(_("Run events are append-only: nobody can edit them."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_append_only(self):
        raise AccessError(_("Run events are append-only: nobody can delete them."))

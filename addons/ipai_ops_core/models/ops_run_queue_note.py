from odoo import _, api, fields, models

from .queue_order import queued_runs


def _ordinal(number):
    if 10 <= number % 100 <= 20:
        return "%dth" % number
    return "%d%s" % (number, {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th"))


class OpsRun(models.Model):
    """Where a run stands before it runs, in words: its place in the queue
    and what it waits for ("2nd in line, behind acme-erp#7; 3 of 3 slots
    busy"), and, once claimed, whether its worker is still there (a worker
    that went quiet says so before the reaper decides)."""

    _inherit = "ops.run"

    queue_note = fields.Char("Queue", compute="_compute_queue_note",
                             help="Its place in the queue (the order workers claim runs in) and what it waits for.")

    # Its place also moves with other runs: not stored, computed again in every request.
    @api.depends("state", "claimed_by", "heartbeat_at")
    def _compute_queue_note(self):
        queued = self.filtered(lambda r: r.state == "queued")
        order, slots, busy = [], 0, 0
        if queued:
            order = queued_runs(self.env)
            # sudo: the number of slots and runs going on is the platform's, not any project's
            slots = sum(self.env["ops.worker"].sudo()._ops_alive().mapped("slots"))
            busy = self.env["ops.run"].sudo().search_count([("state", "in", ("claimed", "running")),
                                                            ("kind", "!=", "shell")])
        for run in self:
            if run.state == "queued" and run.id in order:
                place = order.index(run.id)
                if place:
                    # Another project's run is named only to those who may see it.
                    ahead = self.env["ops.run"].search([("id", "=", order[place - 1])])
                    note = _("%(place)s in line, behind %(run)s", place=_ordinal(place + 1),
                             run=ahead.display_name if ahead else _("a run of another project"))
                else:
                    note = _("Next in line")
                if not slots:
                    note += _("; no worker is running (the queue's cron takes it within a minute)")
                elif busy >= slots:
                    note += _("; all %(slots)d slots busy", slots=slots)
                run.queue_note = note
            elif run.state in ("claimed", "running") and run.kind != "shell":
                # sudo: workers are the platform's records; only whether this one is there is said
                note = self.env["ops.worker"].sudo()._ops_describe(run.claimed_by)
                quiet = (fields.Datetime.now() - run.heartbeat_at).total_seconds() if run.heartbeat_at else 0
                if quiet > 60:
                    note = (note + " " if note else "") + _(
                        "No heartbeat for %(quiet)d s: the reaper requeues or fails it after %(limit)d s.",
                        quiet=quiet, limit=self._heartbeat_timeout())
                run.queue_note = note or False
            elif run.state == "waiting_approval":
                run.queue_note = _("Waiting for a project admin's approval before it enters the queue")
            else:
                run.queue_note = False

from odoo import api, fields, models

from . import durations

OUTCOMES = [
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
    ("lost", "Lost (worker died)"),
]


class OpsRunAttempt(models.Model):
    """One attempt at a run: who took it, when it started and ended, and how
    (a run is tried again, up to its max attempts, when its worker dies)."""

    _name = "ops.run.attempt"
    _description = "Ops run attempt"
    _order = "run_id, number"

    run_id = fields.Many2one("ops.run", required=True, ondelete="cascade", index=True, readonly=True)
    project_id = fields.Many2one(related="run_id.project_id", store=True, index=True)
    number = fields.Integer(required=True, readonly=True)
    worker_id = fields.Char(readonly=True)
    started_at = fields.Datetime("Started at", readonly=True)
    finished_at = fields.Datetime("Finished at", readonly=True)
    outcome = fields.Selection(OUTCOMES, required=True, default="running", readonly=True)
    reason = fields.Text(readonly=True)
    duration = fields.Float("Duration (s)", compute="_compute_duration", digits=(16, 1))
    duration_display = fields.Char("Duration", compute="_compute_duration")

    _sql_constraints = [
        ("run_number_uniq", "unique(run_id, number)", "An attempt number is used once per run."),
    ]

    @api.depends("started_at", "finished_at")
    def _compute_duration(self):
        for attempt in self:
            attempt.duration = (attempt.finished_at - attempt.started_at).total_seconds() \
                if attempt.started_at and attempt.finished_at else 0.0
            attempt.duration_display = durations.human(attempt.duration) \
                if attempt.started_at and attempt.finished_at else False

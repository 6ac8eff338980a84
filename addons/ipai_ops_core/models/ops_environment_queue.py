from odoo import _, fields, models


class OpsEnvironment(models.Model):
    """What an environment waits for, on its card and form: a run queued
    (its place in line), waiting for approval, or held by a worker that went
    quiet."""

    _inherit = "ops.environment"

    pending_run_id = fields.Many2one("ops.run", compute="_compute_queue_note", string="Pending run")
    queue_note = fields.Char("Waiting", compute="_compute_queue_note")
    awaiting_approval = fields.Boolean("Awaiting approval", compute="_compute_queue_note",
                                       help="Its latest run waits for a project admin's approval.")
    approval_note = fields.Text("To approve", compute="_compute_queue_note",
                                help="The commit the waiting run would bring to this environment, its message and "
                                     "the modules it changes.")
    approval_diff_url = fields.Char("Diff to approve", compute="_compute_queue_note")

    def _compute_queue_note(self):
        pending = self.env["ops.run"].search([("environment_id", "in", self.ids), ("kind", "!=", "shell"),
                                              ("state", "in", ("waiting_approval", "queued", "claimed", "running"))],
                                             order="id desc")
        for env in self:
            run = pending.filtered(lambda r, env=env: r.environment_id == env)[:1]
            env.pending_run_id = run
            env.awaiting_approval = run.state == "waiting_approval"
            env.approval_note = env.awaiting_approval and run.approval_summary or False
            env.approval_diff_url = env.awaiting_approval and run.diff_url or False
            if not run:
                env.queue_note = False
            elif run.state == "waiting_approval":
                env.queue_note = _("%(run)s waits for approval", run=run.display_name)
            elif run.state == "queued":
                env.queue_note = "%s: %s" % (run.display_name, run.queue_note or _("queued"))
            else:
                env.queue_note = run.queue_note and "%s: %s" % (run.display_name, run.queue_note) or False

    def action_approve_pending(self):
        """Approve the run this environment waits for (the card's Approve:
        project admins and owners; approve_run checks)."""
        self.ensure_one()
        self.pending_run_id.approve_run()
        return True

    def action_reject_pending(self):
        self.ensure_one()
        self.pending_run_id.reject_run()
        return True

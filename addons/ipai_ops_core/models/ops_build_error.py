import psycopg2
from odoo import _, api, fields, models
from odoo.exceptions import AccessError

STATES = [("new", "New"), ("known", "Known"), ("ignored", "Ignored")]


class OpsBuildError(models.Model):
    """Failed runs grouped by what broke: the fingerprint of their cleaned
    traceback (services/odoo_log.py: no paths, ids, numbers or addresses),
    per project. The second failure with the same cause joins the first;
    the team marks a group known (being worked on) or ignored."""

    _name = "ops.build.error"
    _description = "Ops build error group"
    _inherit = ["mail.thread"]
    _order = "last_seen desc, id desc"

    name = fields.Char("Cause", readonly=True, help="What broke, as its first occurrence said it.")
    project_id = fields.Many2one("ops.project", required=True, readonly=True, index=True, ondelete="cascade")
    fingerprint = fields.Char(required=True, readonly=True, index=True)
    exception = fields.Char(readonly=True)
    addon = fields.Char(readonly=True, help="The project's addon the error came from, when it did.")
    first_seen = fields.Datetime("First seen", readonly=True)
    last_seen = fields.Datetime("Last seen", readonly=True)
    count = fields.Integer("Occurrences", readonly=True)
    run_ids = fields.One2many("ops.run", "build_error_id", string="Runs", readonly=True)
    environment_ids = fields.Many2many("ops.environment", compute="_compute_where", string="Environments")
    commits = fields.Char(compute="_compute_where")
    state = fields.Selection(STATES, default="new", required=True, tracking=True, readonly=True)

    _sql_constraints = [
        ("fingerprint_uniq", "unique(project_id, fingerprint)", "One group per error and project."),
    ]

    @api.depends("run_ids.environment_id", "run_ids.commit_sha")
    def _compute_where(self):
        for group in self:
            group.environment_ids = group.run_ids.environment_id
            group.commits = ", ".join(sorted({sha[:12] for sha in group.run_ids.mapped("commit_sha") if sha}))

    def _ops_set_state(self, state):
        for group in self:
            # Triaging a build error is the developers' work (the matrix's build on development).
            group.project_id._ops_check_action("development", "build")
        self.sudo().write({"state": state})  # sudo: the state is readonly in the views; checked above
        return True

    def action_mark_known(self):
        return self._ops_set_state("known")

    def action_ignore(self):
        return self._ops_set_state("ignored")

    def action_reopen(self):
        return self._ops_set_state("new")

    def write(self, vals):
        if not self.env.su:
            raise AccessError(_("Build error groups are kept by the platform; mark one known or ignored instead."))
        return super().write(vals)

    @api.model
    def _ops_record(self, run, detail):
        """Group ``run``'s failure (``detail``: services/odoo_log.LogSummary.detail)."""
        now = fields.Datetime.now()
        # sudo: the platform records what its runs met, for every project
        Group = self.sudo()
        group = Group.search([("project_id", "=", run.project_id.id), ("fingerprint", "=", detail["fingerprint"])],
                             limit=1)
        if not group:
            try:
                with self.env.cr.savepoint():
                    group = Group.create({"project_id": run.project_id.id, "fingerprint": detail["fingerprint"],
                                          "name": detail["summary"], "exception": detail.get("exception"),
                                          "addon": detail.get("addon"), "first_seen": now, "count": 0})
            except psycopg2.IntegrityError:  # another run made it meanwhile
                group = Group.search([("project_id", "=", run.project_id.id),
                                      ("fingerprint", "=", detail["fingerprint"])], limit=1)
        # Counted in SQL: two runs failing at once both count.
        self.env.cr.execute("UPDATE ops_build_error SET count = count + 1, last_seen = %s WHERE id = %s",
                            [now, group.id])
        group.invalidate_recordset(["count", "last_seen"])
        run.sudo().build_error_id = group  # sudo: a protected field of the run, set by the platform
        return group


class OpsRun(models.Model):
    _inherit = "ops.run"

    build_error_seen_before = fields.Boolean(
        "Error seen before", compute="_compute_build_error_seen_before",
        help="An earlier run of this project failed with the same cause (the same error group).")

    @api.depends("build_error_id")
    def _compute_build_error_seen_before(self):
        first = {}
        if self.build_error_id:
            first = dict(self.env["ops.run"]._read_group(
                [("build_error_id", "in", self.build_error_id.ids)], ["build_error_id"], ["id:min"]))
        for run in self:
            earliest = first.get(run.build_error_id)
            run.build_error_seen_before = bool(earliest and run._origin.id and earliest < run._origin.id)

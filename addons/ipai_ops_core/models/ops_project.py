import fnmatch
import logging
import os

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, ValidationError

from ..services import naming, odoo_versions, postgres
from . import stage_matrix

STAGES = [("development", "Development"), ("staging", "Staging"), ("production", "Production")]
ROLES = [  # the ranks are stage_matrix.ROLE_RANK
    ("owner", "Owner"),
    ("admin", "Admin"),
    ("tester", "Tester"),
    ("developer", "Developer"),
    ("viewer", "Viewer"),
]

def validated(func, *args):
    """``func(*args)``, with its ValueError turned into a ValidationError
    (the services validate; the models speak to users)."""
    try:
        return func(*args)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc

_logger = logging.getLogger(__name__)
DEFAULT_BRANCH_RULES = [("release/*", "staging"), ("*", "development")]


class OpsProject(models.Model):
    _name = "ops.project"
    _description = "Ops project"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    slug = fields.Char(
        required=True, index=True, copy=False, tracking=True,
        help="Short identifier used in database, image and container names: [a-z0-9-].",
    )
    workspace_key = fields.Char(
        "Workspace key", required=True, copy=False, index=True,
        help="Unique key of the workspace (tenant) this project belongs to; defaults to the slug.",
    )
    repo_url = fields.Char(
        "Git repository", required=True, tracking=True,
        help="Absolute local path, file://, https://, ssh:// or user@host:path",
    )
    default_branch = fields.Char("Default branch", required=True, default="main", tracking=True)
    odoo_version = fields.Selection(
        odoo_versions.SELECTION, "Odoo version", required=True, default="18.0", tracking=True,
        help="The Odoo version the project's environments run: they are built on that version's runtime image.",
    )
    tool_id = fields.Many2one(
        "ops.tool", "Runtime tool", ondelete="restrict", tracking=True, store=True, readonly=False,
        compute="_compute_tool_id", help="The runtime image of the project's Odoo version (Configuration > Tools).",
    )
    state = fields.Selection(
        [("active", "Active"), ("archived", "Archived")], default="active", required=True, tracking=True
    )
    description = fields.Text()
    color = fields.Integer()

    # settings
    branch_rule_ids = fields.One2many("ops.branch.rule", "project_id", "Branch rules", copy=True)
    dev_lifetime_days = fields.Integer("Development build lifetime (days)", default=7)
    test_tags = fields.Char(
        "Test tags", help="Odoo --test-tags for development builds; empty means the project's modules."
    )
    modules_mode = fields.Selection(
        [("own", "The project's own modules"), ("list", "A list of modules"), ("all", "All modules")],
        "Modules to install", default="own", required=True,
    )
    module_list = fields.Char("Module list", help="Comma-separated module names (when 'A list of modules' is chosen).")
    staging_commit_policy = fields.Selection(
        [("update", "Update the current build"), ("new_build", "New build from production"),
         ("nothing", "Nothing")],
        "New commit on staging", default="update", required=True,
    )
    staging_source = fields.Selection(
        [("production", "Live production")], "Staging data from", default="production", required=True,
        help="Live production: a copy of production's database and filestore at build time, production keeps "
             "serving. (The backup module adds: the latest verified backup.)")
    staging_obfuscate = fields.Boolean("Obfuscate personal data on staging",
                                       help="Run Odoo's obfuscate on partner names, emails, phones, addresses.")
    staging_scrub_sql = fields.Text(
        "Staging scrub SQL", help="SQL statements, one per line, run on each staging copy after neutralize "
                                  "(as the project's own database role), e.g. UPDATE res_partner SET email = NULL")
    staging_slots = fields.Integer("Staging slots", default=2, help="How many staging environments may run at once.")
    production_approval = fields.Boolean(
        "Production actions need approval",
        help="Runs on production wait in 'Waiting approval' until a project admin or owner approves.",
    )

    mem_limit_mb = fields.Integer("Memory limit (MB)", default=2048, help="Per environment container.")
    cpu_limit = fields.Float("CPU limit (cores)", default=1.0, help="Per environment container.")

    member_ids = fields.One2many("ops.project.member", "project_id", "Members")
    environment_ids = fields.One2many("ops.environment", "project_id", "Environments")
    run_ids = fields.One2many("ops.run", "project_id", "Runs")
    run_sequence = fields.Integer(
        "Last run number", readonly=True, copy=False, default=0, help="Last run number given (gap-free, per project)."
    )

    environment_count = fields.Integer("Number of environments", compute="_compute_stats")
    run_count = fields.Integer("Number of runs", compute="_compute_stats")
    running_count = fields.Integer("Running environments", compute="_compute_stats")
    production_url = fields.Char("Production URL", compute="_compute_stats")
    last_run_id = fields.Many2one("ops.run", "Last finished run", compute="_compute_stats")
    last_result = fields.Selection(
        [("ok", "OK"), ("warning", "Warning"), ("failed", "Failed")], "Last result", compute="_compute_stats"
    )
    my_role = fields.Selection(ROLES + [("manager", "Ops Manager")], "My role", compute="_compute_my_role")

    _sql_constraints = [
        ("slug_uniq", "unique(slug)", "Another project already uses this slug."),
        ("workspace_key_uniq", "unique(workspace_key)", "Another project already uses this workspace key."),
        ("dev_lifetime_positive", "check(dev_lifetime_days > 0)", "The development lifetime must be positive."),
        ("staging_slots_positive", "check(staging_slots >= 0)", "Staging slots cannot be negative."),
        ("limits_positive", "check(mem_limit_mb >= 256 AND cpu_limit > 0)",
         "Environments need at least 256 MB of memory and some CPU."),
    ]

    def _register_hook(self):
        # Environments connect with their project's own role: none of them
        # may even connect to the control plane's database (checked at every
        # start, since a copied database gets the default privileges back).
        super()._register_hook()
        try:
            cfg = tools.config  # the control plane's own server, not the environments' (env_db_host)
            own = {"host": cfg["db_host"] or None, "port": cfg["db_port"] or None, "user": cfg["db_user"],
                   "password": cfg["db_password"]}
            postgres.revoke_public_connect(own, self.env.cr.dbname)
        except (postgres.PostgresError, ValueError) as exc:
            _logger.warning("ops: could not revoke CONNECT on %s from PUBLIC: %s", self.env.cr.dbname, exc)

    # ------------------------------------------------------------------
    # constraints and defaults
    # ------------------------------------------------------------------
    @api.depends("odoo_version")
    def _compute_tool_id(self):
        for project in self:
            if project.tool_id.version != project.odoo_version:
                project.tool_id = self.env["ops.tool"]._ops_for_version(project.odoo_version)

    @api.constrains("odoo_version", "tool_id")
    def _check_tool_version(self):
        for project in self:
            if project.tool_id and project.tool_id.version != project.odoo_version:
                raise ValidationError(_(
                    "The runtime tool %(tool)s is for Odoo %(tool_version)s, the project is on %(version)s.",
                    tool=project.tool_id.display_name, tool_version=project.tool_id.version,
                    version=project.odoo_version))

    @api.constrains("slug")
    def _check_slug(self):
        for project in self:
            validated(naming.validate_slug, project.slug)

    @api.constrains("repo_url")
    def _check_repo_url(self):
        self._ops_check_repo_url()

    def _ops_check_repo_url(self):
        """The URL is valid, and a local repository lies under a root an Ops
        Manager allowed (Docker hosts): a project admin must not be able to
        mirror any repository the server's user can read."""
        for project in self:
            validated(naming.validate_repo_url, project.repo_url)
            path = naming.local_repo_path(project.repo_url)
            if path is None:
                continue
            real = os.path.realpath(path)
            roots = self.env["ops.host"]._ops_repo_roots()
            if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
                raise ValidationError(_(
                    "The local repository %(path)s is not under a directory an Ops Manager allowed "
                    "(Docker hosts > Local repository roots: %(roots)s).", path=path, roots=", ".join(roots)))

    @api.constrains("default_branch")
    def _check_default_branch(self):
        for project in self:
            validated(naming.validate_branch, project.default_branch)

    @api.constrains("modules_mode", "module_list")
    def _check_module_list(self):
        for project in self:
            if project.modules_mode == "list":
                names = project._module_names()
                if not names:
                    raise ValidationError(_("List the modules to install, separated by commas."))
                bad = [n for n in names if not naming.DB_NAME_RE.match(n)]
                if bad:
                    raise ValidationError(_("Invalid module names: %s", ", ".join(bad)))

    def _module_names(self):
        self.ensure_one()
        return [m.strip() for m in (self.module_list or "").split(",") if m.strip()]

    @api.onchange("name")
    def _onchange_name_slug(self):
        if self.name and not self.slug:
            self.slug = naming.slugify(self.name)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("slug") and vals.get("name"):
                vals["slug"] = naming.slugify(vals["name"])
            if not vals.get("workspace_key") and vals.get("slug"):
                vals["workspace_key"] = vals["slug"]
        projects = super().create(vals_list)
        for project in projects:
            if not project.branch_rule_ids:
                rules = [(project.default_branch, "production")] + DEFAULT_BRANCH_RULES
                project.branch_rule_ids = [
                    fields.Command.create({"sequence": 10 * (i + 1), "pattern": pattern, "stage": stage})
                    for i, (pattern, stage) in enumerate(rules)
                ]
            if not project.member_ids and not self.env.su:
                project.member_ids = [fields.Command.create({"user_id": self.env.uid, "role": "owner"})]
        return projects

    def write(self, vals):
        if "run_sequence" in vals and not self.env.su:
            raise AccessError(_("The run counter is maintained by the run queue only."))
        if not self.env.su and set(vals) - {"message_follower_ids", "activity_ids"}:
            for project in self:
                project._ops_check_project_action("settings", _("change the settings of project %s", project.name))
        return super().write(vals)

    def _ops_next_run_number(self):
        """The project's next run number. The row lock of the UPDATE
        serialises queueing per project: numbers are gap-free (a caller that
        queues nothing gives it back with ``_ops_give_back_run_number``)."""
        self.ensure_one()
        self.env.cr.execute(
            "UPDATE ops_project SET run_sequence = run_sequence + 1 WHERE id = %s RETURNING run_sequence", [self.id])
        number = self.env.cr.fetchone()[0]
        self.invalidate_recordset(["run_sequence"])
        return number

    def _ops_give_back_run_number(self):
        self.ensure_one()
        self.env.cr.execute("UPDATE ops_project SET run_sequence = run_sequence - 1 WHERE id = %s", [self.id])
        self.invalidate_recordset(["run_sequence"])

    # ------------------------------------------------------------------
    # computed
    # ------------------------------------------------------------------
    def _compute_stats(self):
        Env = self.env["ops.environment"]
        Run = self.env["ops.run"]
        env_counts = dict(Env._read_group([("project_id", "in", self.ids), ("state", "!=", "destroyed")],
                                          ["project_id"], ["__count"]))
        running = dict(Env._read_group([("project_id", "in", self.ids), ("state", "=", "running")],
                                       ["project_id"], ["__count"]))
        run_counts = dict(Run._read_group([("project_id", "in", self.ids)], ["project_id"], ["__count"]))
        last_runs = dict(Run._read_group([("project_id", "in", self.ids), ("result", "!=", False)],
                                         ["project_id"], ["id:max"]))
        for project in self:
            project.environment_count = env_counts.get(project, 0)
            project.running_count = running.get(project, 0)
            project.run_count = run_counts.get(project, 0)
            project.last_run_id = last_runs.get(project, False)
            project.last_result = project.last_run_id.result or False
            prod = project.environment_ids.filtered(
                lambda e: e.stage == "production" and e.state != "destroyed"
            )[:1]
            project.production_url = prod.url or False

    @api.depends_context("uid")
    def _compute_my_role(self):
        for project in self:
            project.my_role = project._ops_role() or False

    # ------------------------------------------------------------------
    # roles (used by the run API and the record rules' tests)
    # ------------------------------------------------------------------
    def _ops_role(self, user=None):
        """Role of ``user`` (default: current user) on this project.

        Ops Managers get 'manager' everywhere. Reads the membership with
        sudo: the caller already sees the project (or is about to be told
        it cannot), and the role itself is what decides the access.
        """
        self.ensure_one()
        user = user or self.env.user
        if user.has_group("ipai_ops_core.group_ops_manager"):
            return "manager"
        # sudo: the caller's own membership decides its access (see the docstring)
        member = self.sudo().member_ids.filtered(lambda m: m.user_id == user)
        return member[:1].role or False

    def _ops_may(self, stage, action, user=None):
        """Whether ``user`` (default: the current user) may do ``action`` on
        ``stage`` of this project, by the one stage matrix (stage_matrix.py)."""
        self.ensure_one()
        return stage_matrix.allows(self._ops_role(user) or None, stage, action,
                                   self.env["ops.run"]._ops_stage_matrix())

    def _ops_deny(self, what):
        role = self._ops_role()
        raise AccessError(_("You (%(user)s, role: %(role)s) may not %(what)s.",
                            user=self.env.user.login, role=role or _("not a member"), what=what))

    def _ops_check_action(self, stage, kind):
        """Raise AccessError unless the current user may do ``kind`` (a run
        kind or a matrix action) on ``stage`` (None: the project itself)."""
        self.ensure_one()
        action = stage_matrix.action_for_kind(kind, self.env["ops.run"]._ops_stage_matrix()) \
            if kind not in stage_matrix.PROJECT_ACTIONS else kind
        if not self._ops_may(stage, action):
            self._ops_deny(_("run '%(action)s' on %(stage)s of project %(project)s", action=kind,
                             stage=stage or _("the project"), project=self.slug))

    def _ops_check_project_action(self, action, what):
        """Project-wide actions (settings, members, approvals): admins and owners."""
        self.ensure_one()
        if not self._ops_may(None, action):
            self._ops_deny(what)

    def _ops_needs_approval(self, stage, kind):
        """Whether a ``kind`` run on ``stage`` waits for an admin's approval:
        on production only, as the kind says (executors/registry.py: an Odoo
        upgrade always, a rollback or a backup never, the others when the
        project asks for approvals)."""
        self.ensure_one()
        entry = self.env["ops.run"]._ops_run_kinds().get(kind)
        if stage != "production" or not entry or entry.approval == "never":
            return False
        return entry.approval == "always" or self.production_approval

    # ------------------------------------------------------------------
    # branches
    # ------------------------------------------------------------------
    def stage_for_branch(self, branch):
        """Stage a branch maps to, by the first matching rule (fnmatch)."""
        self.ensure_one()
        naming.validate_branch(branch)
        for rule in self.branch_rule_ids.sorted(lambda r: (r.sequence, r.id)):
            if fnmatch.fnmatchcase(branch, rule.pattern):
                return rule.stage
        return "development"

    # ------------------------------------------------------------------
    # UI actions
    # ------------------------------------------------------------------
    def action_archive_project(self):
        self.write({"state": "archived"})

    def action_unarchive_project(self):
        self.write({"state": "active"})

    def action_view_environments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_core.action_ops_environment")
        action["domain"] = [("project_id", "=", self.id)]
        action["context"] = {"default_project_id": self.id, "search_default_not_destroyed": 1}
        return action

    def action_view_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_core.action_ops_run")
        action["domain"] = [("project_id", "=", self.id)]
        action["context"] = {"default_project_id": self.id}
        return action

import fnmatch
import logging
import os
import subprocess

import psycopg2
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import SQL

from ..services import naming
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
        required=True, copy=False, index=True,
        help="Unique key of the workspace (tenant) this project belongs to; defaults to the slug.",
    )
    repo_url = fields.Char(
        "Git repository", required=True, tracking=True,
        help="Absolute local path, file://, https://, ssh:// or user@host:path",
    )
    default_branch = fields.Char(required=True, default="main", tracking=True)
    odoo_version = fields.Selection(
        [("16.0", "16.0"), ("17.0", "17.0"), ("18.0", "18.0")], required=True, default="18.0", tracking=True
    )
    tool_id = fields.Many2one(
        "ops.tool", "Runtime tool", ondelete="restrict", tracking=True,
        default=lambda self: self.env.ref("ipai_ops_core.ops_tool_odoo_18", raise_if_not_found=False),
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
    module_list = fields.Char(help="Comma-separated module names (when 'A list of modules' is chosen).")
    staging_commit_policy = fields.Selection(
        [("update", "Update the current build"), ("new_build", "New build from production"),
         ("nothing", "Nothing")],
        "New commit on staging", default="update", required=True,
    )
    staging_source = fields.Selection(
        [("production", "Live production"), ("backup", "Latest verified backup")], "Staging data from",
        default="production", required=True,
        help="Live production: a copy of production's database and filestore at build time, production keeps "
             "serving. Latest verified backup: the copy the last restore drill verified (backup module), in "
             "seconds and without touching production.")
    staging_obfuscate = fields.Boolean("Obfuscate personal data on staging",
                                       help="Run Odoo's obfuscate on partner names, emails, phones, addresses.")
    staging_scrub_sql = fields.Text(
        "Staging scrub SQL", help="SQL statements, one per line, run on each staging copy after neutralize "
                                  "(as the project's own database role), e.g. UPDATE res_partner SET email = NULL")
    staging_slots = fields.Integer(default=2, help="How many staging environments may run at once.")
    production_approval = fields.Boolean(
        "Production actions need approval",
        help="Runs on production wait in 'Waiting approval' until a project admin or owner approves.",
    )

    mem_limit_mb = fields.Integer("Memory limit (MB)", default=2048, help="Per environment container.")
    cpu_limit = fields.Float("CPU limit (cores)", default=1.0, help="Per environment container.")

    member_ids = fields.One2many("ops.project.member", "project_id", "Members")
    environment_ids = fields.One2many("ops.environment", "project_id", "Environments")
    run_ids = fields.One2many("ops.run", "project_id", "Runs")
    workflow_ids = fields.One2many("ops.workflow", "project_id", "Workflows")
    run_sequence = fields.Integer(
        readonly=True, copy=False, default=0, help="Last run number given (gap-free, per project)."
    )

    environment_count = fields.Integer(compute="_compute_stats")
    run_count = fields.Integer(compute="_compute_stats")
    running_count = fields.Integer("Running environments", compute="_compute_stats")
    production_url = fields.Char(compute="_compute_stats")
    last_run_id = fields.Many2one("ops.run", "Last finished run", compute="_compute_stats")
    last_result = fields.Selection(
        [("ok", "OK"), ("warning", "Warning"), ("failed", "Failed")], compute="_compute_stats"
    )
    my_role = fields.Selection(ROLES + [("manager", "Ops Manager")], compute="_compute_my_role")

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
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(SQL("REVOKE CONNECT ON DATABASE %s FROM PUBLIC", SQL.identifier(cr.dbname)))
        except psycopg2.Error as exc:
            _logger.warning("ops: could not revoke CONNECT on %s from PUBLIC: %s", cr.dbname, exc)

    # ------------------------------------------------------------------
    # constraints and defaults
    # ------------------------------------------------------------------
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
        return stage_matrix.allows(self._ops_role(user) or None, stage, action)

    def _ops_deny(self, what):
        role = self._ops_role()
        raise AccessError(_("You (%(user)s, role: %(role)s) may not %(what)s.",
                            user=self.env.user.login, role=role or _("not a member"), what=what))

    def _ops_check_action(self, stage, kind):
        """Raise AccessError unless the current user may do ``kind`` (a run
        kind or a matrix action) on ``stage`` (None: the project itself)."""
        self.ensure_one()
        action = stage_matrix.action_for_kind(kind) if kind not in stage_matrix.PROJECT_ACTIONS else kind
        if not self._ops_may(stage, action):
            self._ops_deny(_("run '%(action)s' on %(stage)s of project %(project)s", action=kind,
                             stage=stage or _("the project"), project=self.slug))

    def _ops_check_project_action(self, action, what):
        """Project-wide actions (settings, members, approvals): admins and owners."""
        self.ensure_one()
        if not self._ops_may(None, action):
            self._ops_deny(what)

    def _ops_needs_approval(self, stage, kind):
        self.ensure_one()
        return bool(self.production_approval and stage == "production" and kind not in ("backup", "drill"))

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

    # ------------------------------------------------------------------
    # demo data: runs in every state, made through the run API itself
    # ------------------------------------------------------------------
    @api.model
    def _ops_demo_populate(self, project_ids):
        """Runs in every state, made through the run API as the demo users
        themselves (so the demo also exercises the role checks)."""
        ref = self.env.ref
        worker = ref("ipai_ops_core.demo_user_worker")
        admin = ref("base.user_admin")
        requester_by_stage = {
            "development": ref("base.user_demo"),
            "staging": ref("ipai_ops_core.demo_user_tess"),
            "production": ref("ipai_ops_core.demo_user_ada"),
        }
        worker_id = "demo-host:worker-1"
        sha = self._ops_demo_repository(self.browse(project_ids[:1]))
        Worker = self.env["ops.run"].with_user(worker)
        build_lines = [
            {"level": "info", "message": "git checkout %s" % sha[:12]},
            {"level": "info", "message": "docker build ipai-ops/%%s:%s (cached layers: 7/9)" % sha[:12]},
            {"level": "info", "message": "odoo.modules.loading: 58 modules loaded in 12.41s, 0 queries"},
            {"level": "info", "message": "odoo.tests.stats: acme_sale: 24 tests 3.12s 1482 queries"},
            {"level": "info", "message": "GET /web/health 200 (container healthy after 6.2s)"},
        ]

        def execute(run_id, lines, exit_code=0, error=None, complete=True):
            claimed = Worker.claim_next_run(worker_id)
            assert claimed and claimed["id"] == run_id, "demo runs are claimed in order"
            run = Worker.browse(run_id)
            run.start_workflow_run(worker_id)
            run.append_run_log(lines)
            if complete:
                run.complete_workflow_run(exit_code, error, worker_id)

        port = 18069
        for project in self.browse(project_ids):
            for env in project.environment_ids.sorted("id"):
                port += 1
                # sudo: demo data only (the structure issue replaces it with real runs)
                env.sudo().write({
                    "state": "running", "url": "http://127.0.0.1:%d" % port, "port": port,
                    "database_name": naming.db_name_for(naming.namespace_for(self.env.cr.dbname), env.id, 1,
                                                        project.slug, env.branch), "host": "local",
                    "image_digest": "sha256:%064x" % (port * 7919),
                })
            for env in project.environment_ids.sorted("id"):
                user = requester_by_stage[env.stage] if project.member_ids.filtered(
                    lambda m, env=env: m.user_id == requester_by_stage[env.stage]) else admin
                Run = self.env["ops.run"].with_user(user)
                lines = [dict(line, message=line["message"].replace("%s", project.slug)) for line in build_lines]
                kind = "deploy" if env.stage == "production" else "build"
                values = {"project_id": project.id, "environment_id": env.id, "kind": kind}
                if env.stage == "production" and project.production_approval:
                    first = Run.queue_run(dict(values, commit_sha=sha))
                    self.env["ops.run"].with_user(admin).browse(first["id"]).approve_run()
                    execute(first["id"], lines)
                    Run.queue_run(dict(values, commit_sha=sha))  # waits for approval
                elif env.branch == "feature/stock-report":
                    run = Run.queue_run(dict(values, commit_sha=sha))
                    execute(run["id"], lines[:3] + [
                        {"level": "error", "message": "FAIL: TestStockReport.test_valuation_by_lot"},
                        {"level": "error", "message": "AssertionError: 120.0 != 118.5"},
                    ], exit_code=1, error="1 failed test: TestStockReport.test_valuation_by_lot")
                    # sudo: demo data only
                    env.sudo().state = "failed"
                elif env.branch == "fix/tax-rounding":
                    run = Run.queue_run(dict(values, commit_sha=sha))
                    execute(run["id"], lines[:2], complete=False)
                    # sudo: demo data only
                    env.sudo().state = "building"
                elif env.stage == "staging":
                    run = Run.queue_run(dict(values, commit_sha=sha))
                    execute(run["id"], lines + [{"level": "warn", "message": "Field sale.order.x_margin has no label"}])
                else:
                    run = Run.queue_run(dict(values, commit_sha=sha))
                    execute(run["id"], lines)
        # One canceled and one queued run per project, so every state shows up
        # (queued last: the runs above are claimed in queue order).
        for project in self.browse(project_ids):
            dev = project.environment_ids.filtered(lambda e: e.stage == "development")[:1]
            if dev:
                Dev = self.env["ops.run"].with_user(requester_by_stage["development"])
                canceled = Dev.queue_run({"project_id": project.id, "environment_id": dev.id, "kind": "build"})
                Dev.browse(canceled["id"]).cancel_run("Superseded by a newer commit")
                # Left queued: with Docker running, the cron builds it for real.
                Dev.queue_run({"project_id": project.id, "environment_id": dev.id, "kind": "build"})
        return True

    @api.model
    def _ops_demo_repository(self, project):
        """A real git repository for the demo project (a bare repository in
        the data directory, one small addon with a test, a branch per demo
        environment), so the demo's queued builds can run for real."""
        root = os.path.join(self.env["ops.run"]._ops_settings()["work_root"], "..", "demo")
        bare = os.path.realpath(os.path.join(root, "%s.git" % project.slug))
        work = bare[:-4] + "-work"
        git = ["git", "-c", "user.name=ipai ops demo", "-c", "user.email=demo@example.com"]
        if not os.path.isdir(bare):
            addon = os.path.join(work, "acme_sale")
            os.makedirs(os.path.join(addon, "tests"), exist_ok=True)
            files = {
                "__init__.py": "",
                "__manifest__.py": repr({"name": "Acme sales", "version": "18.0.1.0.0", "depends": ["base"],
                                         "license": "LGPL-3", "data": ["data/partner.xml"]}),
                "data/partner.xml": '<odoo><record id="partner_acme" model="res.partner">'
                                    '<field name="name">Acme Corporation</field></record></odoo>',
                "tests/__init__.py": "from . import test_partner\n",
                "tests/test_partner.py": "from odoo.tests import TransactionCase\n\n\n"
                                         "class TestPartner(TransactionCase):\n"
                                         "    def test_acme(self):\n"
                                         "        self.assertEqual(self.env.ref('acme_sale.partner_acme').name, "
                                         "'Acme Corporation')\n",
            }
            for name, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(addon, name)), exist_ok=True)
                with open(os.path.join(addon, name), "w") as fh:
                    fh.write(text)
            subprocess.run(git + ["init", "-q", "-b", project.default_branch, work], check=True)
            subprocess.run(git + ["-C", work, "add", "-A"], check=True)
            subprocess.run(git + ["-C", work, "commit", "-qm", "Acme sales"], check=True)
            subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True)
        sha = subprocess.run(["git", "-C", bare, "rev-parse", project.default_branch], check=True,
                             capture_output=True, text=True).stdout.strip()
        for env in project.environment_ids:
            subprocess.run(["git", "-C", bare, "branch", "-f", "--", env.branch, sha], check=True)
        # sudo: demo data only: the demo project's own repository
        project.sudo().repo_url = "file://%s" % bare
        return sha

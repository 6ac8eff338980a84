import contextlib
import secrets

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..executors import credentials
from ..services import naming
from . import bulk
from .ops_project import STAGES, validated
from .rpc_args import valid_records
from .secret_fields import SecretChar

MIN_ADMIN_PASSWORD = 10
RESULTS = [("ok", "OK"), ("warning", "Warning"), ("failed", "Failed")]
ENV_STATES = [
    ("new", "New"),
    ("building", "Building"),
    ("running", "Running"),
    ("stopped", "Stopped"),
    ("failed", "Failed"),
    ("destroyed", "Destroyed"),
]
# Kanban highlight colours (Odoo palette): green, yellow, red, blue, grey.
_GREEN, _YELLOW, _RED, _BLUE, _GREY = 10, 3, 1, 4, 0
# Written by the runtime (run methods, executors) only, never by hand.
RUNTIME_FIELDS = {
    "state", "database_name", "url", "port", "container_id", "image_digest", "previous_image_digest",
    "last_run_id", "last_result", "host", "data_source", "previous_database_name", "db_role", "db_password",
    "admin_password", "gevent_port", "hostname", "internal_url", "maintenance", "odoo_version_running", "odoo_commit",
    "container_ip", "network_name", "network_subnet", "db_cluster", "database_since", "swarm_node", "node_lost",
}


class OpsEnvironment(models.Model):
    _name = "ops.environment"
    _description = "Ops environment"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "project_id, stage_sequence desc, branch"

    name = fields.Char(compute="_compute_name", store=True)
    project_id = fields.Many2one("ops.project", required=True, ondelete="restrict", index=True, tracking=True)
    branch = fields.Char(required=True, tracking=True)
    stage = fields.Selection(STAGES, required=True, index=True, tracking=True, group_expand=True)
    stage_sequence = fields.Integer("Stage sequence", compute="_compute_stage_sequence", store=True)
    state = fields.Selection(ENV_STATES, default="new", required=True, index=True, tracking=True, readonly=True,
                             copy=False)
    database_name = fields.Char("Database", readonly=True, copy=False)
    url = fields.Char("URL", readonly=True, copy=False)
    port = fields.Integer(readonly=True, copy=False)
    host = fields.Char("Docker host", readonly=True, copy=False)
    container_id = fields.Char("Container ID", readonly=True, copy=False)
    image_digest = fields.Char("Current image digest", readonly=True, copy=False, tracking=True)
    odoo_version_running = fields.Char(
        "Odoo version", readonly=True, copy=False, tracking=True,
        help="The Odoo version of the runtime image the environment runs (the image's label).")
    odoo_commit = fields.Char(
        "Odoo source commit", readonly=True, copy=False,
        help="The Odoo source commit its runtime image was built from (the image's label).")
    previous_image_digest = fields.Char("Previous image digest", readonly=True, copy=False)
    previous_database_name = fields.Char("Previous database", readonly=True, copy=False,
                                         help="The database as it was before the last production deploy: what a "
                                              "rollback returns to.")
    data_source = fields.Char("Data source", readonly=True, copy=False, tracking=True,
                             help="Where the environment's data comes from, and from when (for example a "
                                  "production backup of a given time, or a copy of production).")
    db_role = fields.Char("Database role", readonly=True, copy=False,
                          help="The PostgreSQL role that owns this environment's databases and nothing else.")
    # Only the platform reads these (executors, as superuser): no user group
    # but the technical settings' administrators even sees the fields.
    # Encrypted at rest (secret_fields): a dump of the database alone does not give them away.
    db_password = SecretChar(readonly=True, copy=False, groups="base.group_system")
    admin_password = SecretChar("Administrator password", readonly=True, copy=False, groups="base.group_system",
                                 help="The Odoo administrator password of this environment's databases (random).")
    last_run_id = fields.Many2one("ops.run", "Last run", readonly=True, copy=False, ondelete="set null")
    last_result = fields.Selection(RESULTS, "Last result", readonly=True, copy=False, tracking=True)
    last_run_state = fields.Selection(related="last_run_id.state", string="Last run state")
    last_error = fields.Text(related="last_run_id.error_message", string="Why the last run failed")
    last_run_at = fields.Datetime(related="last_run_id.create_date", string="Last run at")
    status_color = fields.Integer("Status color", compute="_compute_status_color")
    run_ids = fields.One2many("ops.run", "environment_id", "Runs")
    mail_ids = fields.One2many("ops.mail", "environment_id", "Caught mail")
    mail_count = fields.Integer("Number of caught mails", compute="_compute_mail_count")
    run_count = fields.Integer("Number of runs", compute="_compute_run_count")
    color = fields.Integer()

    _sql_constraints = [
        ("port_range", "check(port IS NULL OR port = 0 OR (port > 0 AND port < 65536))", "Invalid port."),
    ]

    def init(self):
        # At most one live production environment per project, and one live
        # environment per branch: partial unique indexes, safe under concurrency.
        # No two environments ever point at the same database or container.
        self.env.cr.execute("""
            CREATE UNIQUE INDEX IF NOT EXISTS ops_environment_one_production
                ON ops_environment (project_id) WHERE stage = 'production' AND state != 'destroyed';
            CREATE UNIQUE INDEX IF NOT EXISTS ops_environment_one_per_branch
                ON ops_environment (project_id, branch) WHERE state != 'destroyed';
            CREATE UNIQUE INDEX IF NOT EXISTS ops_environment_database_uniq
                ON ops_environment (database_name) WHERE database_name IS NOT NULL;
            CREATE UNIQUE INDEX IF NOT EXISTS ops_environment_container_uniq
                ON ops_environment (container_id) WHERE container_id IS NOT NULL;
        """)

    @api.depends("project_id.slug", "branch")
    def _compute_name(self):
        for env in self:
            env.name = "%s/%s" % (env.project_id.slug or "", env.branch or "")

    @api.depends("stage")
    def _compute_stage_sequence(self):
        order = {"development": 1, "staging": 2, "production": 3}
        for env in self:
            env.stage_sequence = order.get(env.stage, 0)

    @api.depends("state", "last_result")
    def _compute_status_color(self):
        for env in self:
            if env.state in ("destroyed", "stopped"):
                env.status_color = _GREY
            elif env.state == "building":
                env.status_color = _BLUE
            elif env.state == "failed" or env.last_result == "failed":
                env.status_color = _RED
            elif env.last_result == "warning":
                env.status_color = _YELLOW
            elif env.last_result == "ok" or env.state == "running":
                env.status_color = _GREEN
            else:
                env.status_color = _GREY

    def _compute_run_count(self):
        counts = dict(self.env["ops.run"]._read_group([("environment_id", "in", self.ids)],
                                                      ["environment_id"], ["__count"]))
        for env in self:
            env.run_count = counts.get(env, 0)

    def _compute_mail_count(self):
        counts = dict(self.env["ops.mail"]._read_group([("environment_id", "in", self.ids)], ["environment_id"],
                                                       ["__count"]))
        for env in self:
            env.mail_count = counts.get(env, 0)

    def _ops_mail_catcher(self):
        """SMTP settings of this environment's containers: the mail catcher
        (odoo-bin ops-mailcatcher), with the environment's own login."""
        self.ensure_one()
        # sudo: configuration parameters are readable by system users only
        port = int(self.env["ir.config_parameter"].sudo().get_param("ipai_ops.mail_catcher_port") or 2525)
        return {"host": "127.0.0.1", "port": port, "user": "env-%d" % self.id,
                "password": self.env["ops.mail"]._ops_secret(self.id)}

    @api.constrains("branch")
    def _check_branch(self):
        for env in self:
            validated(naming.validate_branch, env.branch)

    @api.constrains("database_name")
    def _check_database_name(self):
        for env in self.filtered("database_name"):
            validated(naming.validate_db_name, env.database_name)

    @api.onchange("project_id", "branch")
    def _onchange_branch_stage(self):
        if self.project_id and self.branch:
            # a branch name not valid yet (still typed): the stage waits for a valid one
            with contextlib.suppress(ValueError):
                self.stage = self.project_id.stage_for_branch(self.branch)

    def _ops_db_credentials(self):
        """(role, password) of this environment's own database role, made on
        first use. Only executors call this, through the run's spec."""
        self.ensure_one()
        env = self.sudo()  # sudo: the password field is the platform's own (groups base.group_system)
        role = naming.env_role_name(naming.namespace_for(self.env.cr.dbname), env.id)
        if not env.db_password:
            env.db_password = secrets.token_urlsafe(24)
        return role, env.db_password

    def _ops_admin_password(self):
        """The environment's Odoo administrator password, made on first use."""
        self.ensure_one()
        env = self.sudo()  # sudo: as above, a field only the platform reads
        if not env.admin_password:
            env.admin_password = secrets.token_urlsafe(18)
        return env.admin_password

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            forbidden = RUNTIME_FIELDS.intersection(vals) if not self.env.su else set()
            if forbidden:
                # A database name or container id given by hand would make the
                # next destroy or build act on someone else's.
                raise AccessError(_("%s can only be set by runs, not when creating an environment.",
                                    ", ".join(sorted(forbidden))))
            if vals.get("project_id") and vals.get("branch") and not vals.get("stage"):
                project = self.env["ops.project"].browse(vals["project_id"])
                vals["stage"] = validated(project.stage_for_branch, vals["branch"])
            if not self.env.su and vals.get("project_id"):
                # Before the INSERT: a refused user learns about the role, not about an index.
                self.env["ops.project"].browse(vals["project_id"])._ops_check_action(
                    vals.get("stage") or "development", "build")
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            forbidden = RUNTIME_FIELDS.intersection(vals)
            if forbidden:
                raise AccessError(
                    _("%s can only be changed by runs (queue a run instead).", ", ".join(sorted(forbidden)))
                )
            for env in self:
                env.project_id._ops_check_action(env.stage, "build")
                if "stage" in vals:
                    env.project_id._ops_check_action(vals["stage"], "build")
            if "project_id" in vals or "branch" in vals:
                if self.filtered(lambda e: e.state not in ("new", "destroyed")):
                    raise UserError(_("The project and branch of a live environment cannot change."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_live(self):
        if self.filtered(lambda e: e.state not in ("new", "destroyed")):
            raise UserError(_("Destroy an environment (Destroy button) before deleting it."))

    # ------------------------------------------------------------------
    # buttons: each queues a run; executing it is the runtime's work
    # ------------------------------------------------------------------
    def _queue(self, kind, **extra):
        valid_records(self, "Environment").ensure_one()
        values = {"project_id": self.project_id.id, "environment_id": self.id, "kind": kind}
        values.update(extra)
        result = self.env["ops.run"].queue_run(values)
        run = self.env["ops.run"].browse(result["id"])
        self._message_log(body=_("%(kind)s queued as run %(run)s by %(user)s.",
                                 kind=kind.capitalize(), run=run.display_name, user=self.env.user.name))
        return run

    def _open_run(self, run):
        return {
            "type": "ir.actions.act_window",
            "res_model": "ops.run",
            "res_id": run.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_deploy(self):
        return self._open_run(self._queue("deploy"))

    def action_rebuild(self):
        return self._open_run(self._queue("build"))

    def action_start(self):
        return self._open_run(self._queue("start"))

    def action_stop(self):
        return self._open_run(self._queue("stop"))

    def action_destroy(self):
        return self._open_run(self._queue("destroy"))

    # The same for many at once (server actions, automation rules): runs queued, refusals named.
    def action_bulk_rebuild(self):
        return bulk.each(self, _("Rebuild queued"), lambda e: e._queue("build").display_name, _("No rebuild queued"))

    def action_bulk_start(self):
        return bulk.each(self, _("Start queued"), lambda e: e._queue("start").display_name, _("No start queued"))

    def action_bulk_stop(self):
        return bulk.each(self, _("Stop queued"), lambda e: e._queue("stop").display_name, _("No stop queued"))

    def action_bulk_destroy(self):
        def destroy(env):
            if env.stage != "development":
                raise UserError(env.env._(
                    "only development environments are destroyed from a list (%(env)s is %(stage)s)",
                    env=env.name, stage=env.stage))
            return env._queue("destroy").display_name
        return bulk.each(self, _("Destroy queued"), destroy, _("No destroy queued"))

    @api.model
    def _ops_by_branch(self, project, branch):
        """(project, its live environment of ``branch`` or an empty recordset), for the CLI's PROJECT BRANCH."""
        project = self.env["ops.run"]._resolve_project(project)
        validated(naming.validate_branch, branch)
        return project, self.search([("project_id", "=", project.id), ("branch", "=", branch),
                                     ("state", "!=", "destroyed")], limit=1)

    @api.model
    def _ops_branch_environment(self, project, branch):
        """The live environment of ``branch`` in ``project`` (slug or id), or
        UserError naming both: what ``ops env connect|logs|shell|metrics``
        act on."""
        project, env = self._ops_by_branch(project, branch)
        if not env:
            raise UserError(_("Project %(project)s has no environment for branch %(branch)s.", project=project.slug,
                              branch=branch))
        return env

    def set_admin_password(self, password):
        """Set the administrator password of this environment's current
        database (XML-RPC too). Needs the matrix's 'connect' on its stage."""
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "connect")
        if not isinstance(password, str) or len(password) < MIN_ADMIN_PASSWORD or "\x00" in password:
            raise ValidationError(_("Choose a password of at least %s characters.", MIN_ADMIN_PASSWORD))
        dbname, spec = self._ops_role_spec()
        credentials.secure_admin(spec, dbname, password=password)
        self._message_log(body=_("Administrator password of %(db)s set by %(user)s.", db=dbname,
                                 user=self.env.user.name))
        return True

    def action_set_admin_password(self):
        self.ensure_one()
        self.project_id._ops_check_action(self.stage, "connect")
        return {"type": "ir.actions.act_window", "res_model": "ops.environment.admin.password", "view_mode": "form",
                "target": "new", "context": {"default_environment_id": self.id}}

    def action_view_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_core.action_ops_run")
        action["domain"] = [("environment_id", "=", self.id)]
        action["context"] = {"default_environment_id": self.id, "default_project_id": self.project_id.id}
        return action

    def action_open_url(self):
        self.ensure_one()
        if not self.url:
            raise UserError(_("This environment has no URL yet."))
        return {"type": "ir.actions.act_url", "url": self.url, "target": "new"}

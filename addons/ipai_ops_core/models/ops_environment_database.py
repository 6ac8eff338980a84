from odoo import _, fields, models
from odoo.exceptions import UserError


class OpsEnvironment(models.Model):
    """Which PostgreSQL server holds an environment's databases: the shared
    one (development, staging, and productions made before production's
    cluster existed) or production's own cluster, WAL-archived for
    point-in-time recovery (set up by the backup module: ops.pitr.cluster).
    A production goes there when its first database is made once that
    cluster is set up; one made before moves there with its next deploy
    (executors/move_database.py)."""

    _inherit = "ops.environment"

    db_cluster = fields.Selection(
        [("shared", "Shared server"), ("production", "Production's cluster")], string="Database server",
        default="shared", required=True, readonly=True, copy=False,
        help="Production's cluster is archived continuously (WAL): its databases can be restored to any second "
             "of the retention window.")
    database_since = fields.Datetime("Database serving since", readonly=True, copy=False,
                                     help="When the current database started serving (UTC).")

    def write(self, vals):
        # A new database, or the same one moved onto production's cluster (whose archive starts there).
        if vals.get("database_name") or vals.get("db_cluster"):
            changed = self.filtered(lambda env: any(vals.get(key) and env[key] != vals[key]
                                                    for key in ("database_name", "db_cluster")))
            if changed and "database_since" not in vals:
                super(OpsEnvironment, changed).write({"database_since": fields.Datetime.now()})
        return super().write(vals)

    def _ops_db_server(self, settings=None):
        """The connection values (the control plane's role) of the server holding this environment's databases."""
        self.ensure_one()
        settings = settings or self.env["ops.run"]._ops_settings()
        if self.db_cluster != "production":
            return settings["db"]
        if not settings.get("production_db"):
            raise UserError(_("%s's database is on production's cluster, but no such cluster is configured "
                              "(ipai_ops.production_db_port).", self.name))
        return settings["production_db"]

    def _ops_place_database(self, settings):
        """A production without a database yet goes onto production's cluster when there is one."""
        for env in self.sudo():  # sudo: the platform's placement, made for a claimed run
            if (env.stage == "production" and not env.database_name and env.db_cluster == "shared"
                    and settings.get("production_db")):
                env.db_cluster = "production"

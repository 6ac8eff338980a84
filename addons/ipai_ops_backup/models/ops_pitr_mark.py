import datetime
import logging
import random

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services import pgbackrest, pitr, pitr_drill

_logger = logging.getLogger(__name__)


class OpsPitrMark(models.Model):
    """A moment of production's database written down with its row counts
    (services/pitr_drill.py): what a point-in-time restore drill to that
    moment must find. Made hourly; the daily drill restores to one picked at
    random in the restorable window and records its verdict here."""

    _name = "ops.pitr.mark"
    _description = "Point-in-time mark"
    _order = "at desc, id desc"

    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True,
                                     readonly=True)
    project_id = fields.Many2one(related="environment_id.project_id", store=True, index=True)
    stage = fields.Selection(related="environment_id.stage", store=True)
    database_name = fields.Char(readonly=True, required=True)
    target = fields.Char("Moment", readonly=True, required=True, help="UTC, to the microsecond.")
    at = fields.Datetime(readonly=True, required=True)
    counts = fields.Json(readonly=True, help="{table: [rows just before, rows just after]}")
    verify_state = fields.Selection([("ok", "Verified"), ("failed", "Failed")], "Drill", readonly=True)
    verify_message = fields.Char("Drill result", readonly=True)
    verified_at = fields.Datetime(readonly=True)
    run_id = fields.Many2one("ops.run", "Drill run", readonly=True, ondelete="set null")

    @api.model
    def _ops_productions(self):
        # sudo: the crons go over every production on production's cluster
        return self.env["ops.environment"].sudo().search([
            ("stage", "=", "production"), ("db_cluster", "=", "production"), ("state", "=", "running"),
            ("database_name", "!=", False)])

    @api.model
    def _ops_record(self, production):
        """A mark of ``production`` now (its own role counts its tables)."""
        role, password = production._ops_db_credentials()
        conn = dict(production._ops_db_server(), user=role, password=password)
        target, counts = pitr_drill.mark(conn, production.database_name)
        moment = pitr.parse_target(target)
        # sudo: the platform's own record of production's data, written by its cron or a drill request
        return self.sudo().create({"environment_id": production.id, "database_name": production.database_name,
                                   "target": target, "at": moment.replace(tzinfo=None), "counts": counts})

    @api.model
    def _cron_marks(self):
        for production in self._ops_productions():
            try:
                self._ops_record(production)
            except Exception as exc:  # noqa: BLE001 - one production's failure does not stop the others
                _logger.warning("ops: no point-in-time mark of %s: %s", production.name, exc)

    @api.model
    def _cron_drills(self):
        """Each production on the cluster: a drill to a random mark of the window (one a day)."""
        for production in self._ops_productions():
            try:
                self._ops_queue_drill(production)
            except UserError as exc:
                _logger.info("ops: no point-in-time drill of %s: %s", production.name, exc)

    @api.model
    def _ops_candidates(self, production, window):
        earliest = max(window["earliest"], (production.database_since or datetime.datetime.min).replace(
            tzinfo=pitr.UTC))
        # sudo: the marks of a production the caller may drill (checked by the caller)
        marks = self.sudo().search([("environment_id", "=", production.id),
                                    ("database_name", "=", production.database_name)])
        return marks.filtered(lambda m: earliest < pitr.parse_target(m.target) < window["latest"])

    @api.model
    def _ops_queue_drill(self, production, mark=None):
        """Queue a drill of ``production`` to ``mark``, or to a random one of the window."""
        production.project_id._ops_check_action("production", "drill")
        config = self.env["ops.pitr"]._ops_config()
        if not config:
            raise UserError(_("Production's cluster is not set up."))
        try:
            # A mark of a moment ago is restorable once a commit after it is archived.
            seal = pitr.seal_archive(config["conn"], timeout=30)
            earliest, latest = pitr.restorable_window(pgbackrest.stanza_for(config).info(), seal)
        except (pitr.PitrError, pgbackrest.PgBackRestError) as exc:
            raise UserError(str(exc)) from exc
        candidates = self._ops_candidates(production, {"earliest": earliest, "latest": latest})
        if mark is None:
            if not candidates:
                raise UserError(_("No mark of %s in the restorable window yet (they are made hourly).",
                                  production.name))
            mark = random.choice(candidates)
        elif mark not in candidates:
            raise UserError(_("%(target)s is not in the restorable window of %(db)s.", target=mark.target,
                              db=production.database_name))
        run = self.env["ops.run"]._ops_queue({
            "project_id": production.project_id.id, "environment_id": production.id, "kind": "drill",
            "config": {"pitr_mark_id": mark.id}, "idempotency_key": "pitr-drill-mark-%d" % mark.id}, trusted=True)
        # sudo: the platform's record of which run drills this mark
        mark.sudo().run_id = run["id"]
        return self.env["ops.run"].browse(run["id"])

import os
import socket
from datetime import timedelta

from odoo import _, api, fields, models

ALIVE_SECONDS = 30  # a worker process says it is alive every 10 s
BEAT_SECONDS = 10


class OpsWorker(models.Model):
    """A worker process (`odoo-bin ops-worker`), as it says itself: which
    host it works for, how many runs it takes at once, when it was last
    alive. The queue knows from here whether dedicated workers take the runs
    (the cron fallback then stays out of their way), a claimed run whose
    worker went quiet says so before the reaper decides, and a Docker host
    shows its slots."""

    _name = "ops.worker"
    _description = "Ops worker process"
    _order = "host, name"

    name = fields.Char("Worker", required=True, readonly=True, index=True)
    host = fields.Char("Docker host", readonly=True, index=True)
    machine = fields.Char(readonly=True, help="The machine the process runs on.")
    pid = fields.Integer("Process id", readonly=True)
    slots = fields.Integer(readonly=True, help="Runs it executes at once.")
    kinds = fields.Char(readonly=True, help="The run kinds it takes (empty: all).")
    projects = fields.Char(readonly=True, help="The projects it takes (empty: all).")
    started_at = fields.Datetime("Started at", readonly=True)
    last_seen_at = fields.Datetime("Last seen", readonly=True)
    stopped_at = fields.Datetime("Stopped at", readonly=True)
    alive = fields.Boolean(compute="_compute_alive", help="Seen within the last %d s." % ALIVE_SECONDS)

    _sql_constraints = [("name_uniq", "unique(name)", "A worker with this id is already registered.")]

    def _compute_alive(self):
        limit = fields.Datetime.now() - timedelta(seconds=ALIVE_SECONDS)
        for worker in self:
            worker.alive = bool(not worker.stopped_at and worker.last_seen_at and worker.last_seen_at >= limit)

    @api.model
    def _ops_alive_domain(self, host=None):
        domain = [("stopped_at", "=", False),
                  ("last_seen_at", ">=", fields.Datetime.now() - timedelta(seconds=ALIVE_SECONDS))]
        return domain + ([("host", "=", host)] if host else [])

    @api.model
    def _ops_beat(self, name, host="local", slots=1, kinds=None, projects=None, starting=False):
        """The worker ``name`` is alive (registered on its first beat)."""
        now = fields.Datetime.now()
        values = {"host": host, "machine": socket.gethostname(), "pid": os.getpid(), "slots": slots,
                  "kinds": ",".join(kinds or []) or False, "projects": ",".join(projects or []) or False,
                  "last_seen_at": now, "stopped_at": False}
        if starting:
            values["started_at"] = now
        worker = self.search([("name", "=", name)], limit=1)
        if worker:
            worker.write(values)
        else:
            worker = self.create(dict(values, name=name, started_at=now))
        return worker

    @api.model
    def _ops_stopped(self, name):
        self.search([("name", "=", name)]).write({"stopped_at": fields.Datetime.now()})

    @api.model
    def _ops_alive(self, host=None):
        """The workers seen alive (on ``host``)."""
        return self.search(self._ops_alive_domain(host))

    @api.model
    def _ops_describe(self, name):
        """What is known of the worker ``name`` (for a run it holds): a
        sentence when it went quiet, else None."""
        names = [name, name.rsplit("/", 1)[0]] if name else []
        worker = self.search([("name", "in", names)], limit=1) if names else self.browse()
        if not worker or worker.alive:
            return None
        if worker.stopped_at:
            return _("Its worker %(name)s stopped at %(at)s.", name=worker.name,
                     at=fields.Datetime.to_string(worker.stopped_at))
        seen = (fields.Datetime.now() - worker.last_seen_at).total_seconds() if worker.last_seen_at else None
        return _("Its worker %(name)s has not been seen for %(seconds)d s (killed or its machine stopped?).",
                 name=worker.name, seconds=seen or 0)

from odoo import _, api, fields, models

from ..executors.base import RunFailed
from ..services import ports


class OpsPort(models.Model):
    """A port of a Docker host, reserved for an environment before anything
    listens on it. The unique index is the lock: two builds started together
    never get the same port. Reserved when a run's spec is made, released
    when the run fails or is canceled (unless it is the environment's port),
    when a switch retires the old container's port, and when the environment
    is destroyed."""

    _name = "ops.port"
    _description = "Ops reserved port"
    _order = "host, port"

    host = fields.Char(required=True, readonly=True)
    port = fields.Integer(required=True, readonly=True)
    environment_id = fields.Many2one("ops.environment", required=True, ondelete="cascade", index=True,
                                     readonly=True)
    run_id = fields.Many2one("ops.run", ondelete="set null", index=True, readonly=True)

    _sql_constraints = [
        ("host_port_uniq", "unique(host, port)", "This port is already reserved on this host."),
        ("port_range", "check(port > 0 AND port < 65536)", "Invalid port."),
    ]

    @api.model
    def _ops_reserve(self, env, run, host, port_range):
        """A free port of ``port_range`` on ``host``, reserved for ``env``
        and ``run``: not reserved by anyone else, not used by a live
        environment, nothing listening on it. Call inside the transaction
        that commits the reservation (the run's start)."""
        taken = set(self.search([("host", "=", host)]).mapped("port"))
        # sudo: every project's ports count, not only the caller's
        taken |= set(self.env["ops.environment"].sudo().search(
            [("state", "!=", "destroyed"), ("host", "in", (host, False))]).mapped("port"))
        for port in range(port_range[0], port_range[1] + 1):
            if port in taken or not ports.bindable(port):
                continue
            self.env.cr.execute("""
                INSERT INTO ops_port (host, port, environment_id, run_id, create_uid, write_uid, create_date,
                                      write_date)
                VALUES (%s, %s, %s, %s, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                ON CONFLICT (host, port) DO NOTHING RETURNING id
            """, [host, port, env.id, run.id, self.env.uid, self.env.uid])
            if self.env.cr.fetchone():
                return port
        raise RunFailed(_("No free port left in %(low)s-%(high)s on host %(host)s (ipai_ops.port_range).",
                          low=port_range[0], high=port_range[1], host=host))

    @api.model
    def _ops_release(self, env=None, run=None, keep_current=True):
        """Release the reservations of ``run`` (or of ``env``), except the
        port the environment serves on now."""
        domain = []
        if run:
            domain.append(("run_id", "=", run.id))
        if env:
            domain.append(("environment_id", "=", env.id))
        ports = self.search(domain)
        if keep_current:
            # The port the environment serves on stays, and so do those of
            # its other runs still going on.
            ports = ports.filtered(lambda p: not (p.environment_id.state != "destroyed"
                                                  and p.port in (p.environment_id.port, p.environment_id.gevent_port))
                                   and (p.run_id == run or p.run_id.state not in ("claimed", "running")))
        ports.unlink()

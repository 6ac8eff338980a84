from odoo import api, fields, models


class OpsHostJoin(models.TransientModel):
    """The 'Add a node' window of a swarm host (Ops managers): the command
    a new machine runs to join, read from the manager each time it is shown
    (the join token is never stored), and the swarm's nodes."""

    _name = "ops.host.join"
    _description = "Ops: add a node to a swarm host"

    host_id = fields.Many2one("ops.host", required=True, ondelete="cascade", readonly=True)
    command = fields.Text(compute="_compute_swarm", help="Run it on the new machine, as root, Docker installed.")
    nodes = fields.Text(compute="_compute_swarm")

    @api.depends("host_id")
    def _compute_swarm(self):
        for wizard in self:
            info = wizard.host_id.swarm_join()
            wizard.command = " ".join(info["command"])
            wizard.nodes = "\n".join(
                "%(hostname)s%(label)s: %(role)s, %(state)s, %(availability)s, %(address)s, %(cpus)g CPUs, "
                "%(memory_mb)d MB, Docker %(engine)s" % dict(
                    node, label=" (%s)" % node["name"] if node["name"] not in (None, "", node["hostname"]) else "")
                for node in info["nodes"])

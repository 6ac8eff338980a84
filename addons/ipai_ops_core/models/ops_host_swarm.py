from odoo import _, models
from odoo.exceptions import AccessError, UserError

from ..services import runtime

NODE_FIELDS = ("hostname", "name", "role", "state", "availability", "address", "cpus", "memory_mb", "engine")


class OpsHost(models.Model):
    """A swarm host's nodes, and how a new machine joins it: for Ops
    managers only (the join token lets a machine into the swarm)."""

    _inherit = "ops.host"

    def swarm_join(self):
        """How a new machine joins this swarm host as a node: {"command":
        the argv to run there, "manager": the manager's address, "nodes":
        [{hostname, name, role, state, availability, address, cpus,
        memory_mb, engine}]}. Ops managers only; a clear error when the
        host is no swarm manager or does not answer."""
        self.ensure_one()
        if not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
            raise AccessError(_("Only Ops managers see how a machine joins a swarm (its join token)."))
        if self.runtime_kind != "swarm":
            raise UserError(_("%s is a Docker engine, not a swarm manager: set its Runtime first.") % self.name)
        try:
            engine = self._ops_engine(timeout=30)
            token, address = engine.join_token()
            nodes = engine.nodes()
        except runtime.RuntimeFailure as exc:
            raise UserError(_("The swarm manager of %(host)s does not answer: %(error)s",
                              host=self.name, error=exc)) from exc
        if not token or not address:
            raise UserError(_("%s is not a swarm manager yet (no join token): its first run makes it one.")
                            % self.name)
        return {"command": ["docker", "swarm", "join", "--token", token, address], "manager": address,
                "nodes": [{key: node[key] for key in NODE_FIELDS} for node in nodes]}

    def action_swarm_join(self):
        """The 'Add a node' window: the command to run on the new machine, and the nodes there are."""
        self.ensure_one()
        self.swarm_join()  # its errors here, before a window opens
        wizard = self.env["ops.host.join"].create({"host_id": self.id})
        return {"type": "ir.actions.act_window", "res_model": "ops.host.join", "res_id": wizard.id,
                "view_mode": "form", "target": "new", "name": _("Add a node to %s") % self.name}

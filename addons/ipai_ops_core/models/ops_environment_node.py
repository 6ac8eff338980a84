from odoo import _, fields, models
from odoo.exceptions import UserError

from .rpc_args import valid_records


class OpsEnvironment(models.Model):
    """Where an environment of a swarm host runs: the node its unit is
    pinned to (placement by the node's label; its filestore is on that node),
    a move to another node (Ops managers: one at a time, or a whole node's
    with ops.host.node.action_drain), and whether its node was lost."""

    _inherit = "ops.environment"

    swarm_node = fields.Char("Swarm node", readonly=True, copy=False,
                             help="The node of its swarm host its unit is pinned to (the node's placement name).")
    node_lost = fields.Boolean(
        "Node lost", readonly=True, copy=False,
        help="Its node stopped answering while it ran there: marked failed by the reconciliation, which marks it "
             "running again when the node is back and its unit runs.")

    def _ops_own_disk_node(self):
        """The node (its record, as superuser) that keeps this environment's
        files on a disk of its own, reached through its engine; an empty
        recordset when its files are the platform's (or its node is lost)."""
        self.ensure_one()
        if self.node_lost:
            return self.env["ops.host.node"]
        return self._ops_pinned_node().filtered(lambda n: n.storage == "own" and n.docker_url)

    def _ops_pinned_node(self):
        """The node record (as superuser) this environment is pinned to, lost or not; empty when none."""
        self.ensure_one()
        if not self.swarm_node:
            return self.env["ops.host.node"]
        host = self.env["ops.host"]._ops_named(self.host)  # (reading the environment's log needs where it is)
        return host.node_ids.filtered(lambda n: n.name == self.swarm_node)

    def _ops_files_unreachable(self, what):
        """Why ``what`` (a copy of this environment's data) cannot be made
        now, or False: its files are on the own disk of a node that does not
        answer, and the copy would have none of its attachments."""
        self.ensure_one()
        if not self.node_lost or self._ops_pinned_node().storage != "own":
            return False
        return _("%(env)s keeps its files on the own disk of node %(node)s, which does not answer: %(what)s would "
                 "have none of its attachments. Restore its latest backup (it has them), or wait for the node.",
                 env=self.name, node=self.swarm_node, what=what)

    def move_to_node(self, node):
        """Queue a move of this environment to ``node`` (a node of its swarm
        host, ready and active): a new unit there on the same database,
        switched in like a redeploy, the old one removed. Ops managers only."""
        valid_records(self, "Environment").ensure_one()
        nodes = self.env["ops.host.node"]
        nodes._ops_check_manager()
        if not isinstance(node, str) or not node:
            raise UserError(_("A node is given by its name."))
        host = self.env["ops.host"]._ops_named(self.host)  # (an Ops manager: checked above)
        if host.runtime_kind != "swarm":
            raise UserError(_("%(env)s runs on Docker host %(host)s: only environments of a swarm host move between "
                              "nodes.", env=self.name, host=self.host or "local"))
        target = host.node_ids.filtered(lambda n: n.name == node)
        if not target:
            raise UserError(_("%(host)s has no node %(node)r (nodes: %(nodes)s).", host=host.name, node=node,
                              nodes=", ".join(host.node_ids.mapped("name")) or _("none recorded")))
        if target.state != "ready" or target.availability != "active" or target.draining:
            raise UserError(_("Node %(node)s does not take environments now (%(state)s, %(availability)s%(draining)s).",
                              node=node, state=target.state, availability=target.availability,
                              draining=_(", draining") if target.draining else ""))
        if node == self.swarm_node:
            raise UserError(_("%(env)s already runs on node %(node)s.", env=self.name, node=node))
        if self.state not in ("running", "stopped"):
            raise UserError(_("%(env)s is %(state)s: only a running or stopped environment moves.", env=self.name,
                              state=self.state))
        return self._ops_queue_move(node)

    def _ops_queue_move(self, node):
        self.ensure_one()
        return self.env["ops.run"]._ops_queue({
            "project_id": self.project_id.id, "environment_id": self.id, "kind": "move",
            "config": {"node": node, "stopped": self.state == "stopped"},
        }, trusted=True)

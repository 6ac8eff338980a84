import re

from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from ..services import runtime

NODE_FIELDS = ("hostname", "name", "role", "state", "availability", "address", "cpus", "memory_mb", "engine")


class OpsHost(models.Model):
    """A swarm host's nodes, and how a new machine joins it: for Ops
    managers only (the join token lets a machine into the swarm)."""

    _inherit = "ops.host"

    node_ids = fields.One2many("ops.host.node", "host_id", "Nodes",
                               help="The swarm's machines (its manager's word), each with its own Docker endpoint.")

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
        self._ops_sync_nodes(nodes, engine)
        return {"command": ["docker", "swarm", "join", "--token", token, address], "manager": address,
                "nodes": [{key: node[key] for key in NODE_FIELDS} for node in nodes]}

    def action_swarm_join(self):
        """The 'Add a node' window: the command to run on the new machine, and the nodes there are."""
        self.ensure_one()
        self.swarm_join()  # its errors here, before a window opens
        wizard = self.env["ops.host.join"].create({"host_id": self.id})
        return {"type": "ir.actions.act_window", "res_model": "ops.host.join", "res_id": wizard.id,
                "view_mode": "form", "target": "new", "name": _("Add a node to %s") % self.name}

    def _ops_node_engines(self):
        """{node name: its Docker endpoint} of the nodes whose engine the platform knows."""
        self.ensure_one()
        # sudo: the nodes are managers' records; runs and crons need their endpoints
        return {node.name: node.docker_url for node in self.sudo().node_ids if node.docker_url}

    def _ops_node_storage(self):
        """{node name: where it keeps its environments' files ("shared" or "own")}."""
        self.ensure_one()
        # sudo: the nodes are managers' records; runs and their cleanup need to know where the files are
        return {node.name: node.storage for node in self.sudo().node_ids}

    def _ops_node_endpoints(self):
        """{node host name: its Docker endpoint}: where a command in a unit
        on that node goes (services/swarm_exec.py)."""
        self.ensure_one()
        # sudo: the nodes are managers' records; runs, shells and crons need their endpoints
        return {node.hostname: node.docker_url for node in self.sudo().node_ids if node.docker_url and node.hostname}

    def _ops_sync_nodes(self, nodes=None, engine=None):
        """The swarm's nodes as records: one that joined appears (named by its
        ipai-ops.node label, given one from its host name when it has none);
        one that left the swarm goes with its record. Returns the records."""
        self.ensure_one()
        engine = engine or self._ops_engine(timeout=30)
        nodes = engine.nodes() if nodes is None else nodes
        # sudo: the platform's bookkeeping of the swarm's nodes
        records, Node = self.sudo().node_ids, self.env["ops.host.node"].sudo()
        taken, seen = set(records.mapped("name")), Node
        for node in nodes:
            name = node["name"]
            if not name:
                base = re.sub(r"[^a-z0-9-]+", "-", (node["hostname"] or "").lower()).strip("-")[:50] or "node"
                name = base if base not in taken else "%s-%s" % (base, node["id"][:8].lower())
                engine.name_node(node["id"], name)
            taken.add(name)
            record = records.filtered(lambda r, name=name: r.name == name)
            if not record:
                record = Node.create({"host_id": self.id, "name": name, "hostname": node["hostname"]})
            elif record.hostname != node["hostname"]:
                record.hostname = node["hostname"]
            seen |= record
        (records - seen).filtered(lambda r: not r._ops_environments()).unlink()
        return seen

    def action_swarm_nodes(self):
        """The swarm's nodes, as its manager says now (one that joined appears)."""
        self.ensure_one()
        if not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
            raise AccessError(_("Only Ops managers manage a swarm's nodes."))
        try:
            self._ops_sync_nodes()
        except runtime.RuntimeFailure as exc:
            raise UserError(_("The swarm manager of %(host)s does not answer: %(error)s",
                              host=self.name, error=exc)) from exc
        action = self.env["ir.actions.act_window"]._for_xml_id("ipai_ops_core.action_ops_host_node")
        action.update(domain=[("host_id", "=", self.id)], context={"default_host_id": self.id},
                      name=_("Nodes of %s", self.name))
        return action

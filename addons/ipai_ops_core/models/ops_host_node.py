import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..services import naming, runtime
from .ops_project import validated

_logger = logging.getLogger(__name__)
LIVE_STATES = ("new", "building", "running", "stopped", "failed")


class OpsHostNode(models.Model):
    """A machine of a swarm host (a Swarm node), as its manager reports it:
    its state and capacity, the environments pinned to it, and its own
    Docker engine, through which the platform copies the images its
    environments run (there is no registry). Ops managers move environments
    onto it and drain it (its environments move to the other nodes, the node
    is drained once they are gone)."""

    _name = "ops.host.node"
    _description = "Ops swarm node"
    _order = "host_id, name"

    host_id = fields.Many2one("ops.host", "Swarm host", required=True, ondelete="cascade", index=True,
                              domain=[("runtime_kind", "=", "swarm")])
    name = fields.Char(required=True, help="Its placement name (the node's ipai-ops.node label): environments pinned "
                                           "to it carry it.")
    hostname = fields.Char(readonly=True)
    docker_url = fields.Char(
        "Docker endpoint", help="The node's own engine (ssh://ops@node-2, tcp://..., unix:///...): the images its "
                                "environments run are copied there. Empty: only images already on it run there.")
    storage = fields.Selection(
        [("shared", "Shared with the platform"), ("own", "Its own disk")], default="shared", required=True,
        help="Where the data directories (filestores, logs) of the environments pinned to it are. Shared: the "
             "platform's data directory is the same directory there (this machine, or a network file system). Its "
             "own disk: the platform reaches them through the node's engine (its Docker endpoint), and a move to or "
             "from it copies them.")
    draining = fields.Boolean(readonly=True, help="Its environments are being moved to the other nodes: it takes "
                                                  "nothing new, and is drained once they are gone.")
    role = fields.Char(compute="_compute_swarm")
    state = fields.Char(compute="_compute_swarm", help="ready, down, unknown (the manager's word)")
    availability = fields.Char(compute="_compute_swarm", help="active, pause or drain")
    address = fields.Char(compute="_compute_swarm")
    cpus = fields.Float("CPUs", compute="_compute_swarm")
    memory_mb = fields.Integer("Memory (MB)", compute="_compute_swarm")
    environment_count = fields.Integer("Environments", compute="_compute_environments")
    memory_committed_mb = fields.Integer("Committed (MB)", compute="_compute_environments",
                                         help="The memory limits of the environments pinned to it.")

    _sql_constraints = [("name_uniq", "unique(host_id, name)", "A swarm has one node of each name.")]

    @api.constrains("name", "docker_url", "host_id")
    def _check_values(self):
        for node in self:
            validated(naming.validate_slug, node.name)
            url = node.docker_url or ""
            if url and (not url.startswith(("unix:///", "tcp://", "ssh://")) or any(c.isspace() for c in url)):
                raise ValidationError(_("Invalid Docker endpoint %r: use unix:///..., tcp://... or ssh://...", url))
            if node.host_id.runtime_kind != "swarm":
                raise ValidationError(_("%s is a Docker engine, not a swarm host: it has no nodes.",
                                        node.host_id.name))

    @api.constrains("storage", "docker_url")
    def _check_endpoint(self):
        for node in self:
            if node.storage == "own" and not node.docker_url:
                raise ValidationError(_("%s keeps its environments' files on its own disk: the platform reaches them "
                                        "through its engine, so give it its Docker endpoint.", node.name))

    def write(self, vals):
        # a change only (a node found by the sync is made with environments already pinned to it)
        if "storage" in vals:
            for node in self.filtered(lambda n: n.storage != vals["storage"]):
                if node._ops_environments():
                    raise ValidationError(_("%(node)s has environments pinned to it: where their data directories "
                                            "are cannot change under them (move them off first).", node=node.name))
        return super().write(vals)

    # What the manager says moves all the time: read again in every request.
    @api.depends("host_id", "name")
    def _compute_swarm(self):
        self.update({"role": False, "state": "unknown", "availability": False, "address": False, "cpus": 0.0,
                     "memory_mb": 0})
        for host in self.host_id:
            try:
                reported = {n["name"]: n for n in host._ops_engine(timeout=10).nodes()}
            except runtime.RuntimeFailure:
                reported = {}
            for node in self.filtered(lambda n, host=host: n.host_id == host):
                found = reported.get(node.name) or {}
                node.role, node.state = found.get("role") or False, found.get("state") or "unknown"
                node.availability, node.address = found.get("availability") or False, found.get("address") or False
                node.cpus, node.memory_mb = found.get("cpus") or 0.0, found.get("memory_mb") or 0

    def _ops_environments(self):
        self.ensure_one()
        # sudo: what runs on a node counts whoever looks at it
        return self.env["ops.environment"].sudo().search([
            ("host", "=", self.host_id.name), ("swarm_node", "=", self.name), ("state", "in", LIVE_STATES)])

    def _compute_environments(self):
        for node in self:
            envs = node._ops_environments() if node.id else self.env["ops.environment"]
            node.environment_count = len(envs)
            node.memory_committed_mb = sum(envs.filtered(lambda e: e.state == "running").mapped(
                "project_id.mem_limit_mb"))

    def _ops_check_manager(self):
        if not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
            raise AccessError(_("Only Ops managers move environments between a swarm's nodes."))

    def _ops_targets(self):
        """The other nodes of the swarm an environment may move to (ready,
        active, not draining), the one with the most memory left first."""
        self.ensure_one()
        others = self.host_id.node_ids.filtered(lambda n: n != self and not n.draining and n.state == "ready"
                                                and n.availability == "active")
        return others.sorted(lambda n: (-(n.memory_mb - n.memory_committed_mb), n.name))

    def action_drain(self):
        """The Drain button: ``drain``, and what it queued, said."""
        queued = self.drain()
        return {"type": "ir.actions.client", "tag": "display_notification", "params": {
            "type": "info", "sticky": False, "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            "message": _("%(count)d environments are moving off %(nodes)s; the node is drained once they are gone.",
                         count=len(queued), nodes=", ".join(self.mapped("name")))}}

    def drain(self):
        """Move every environment of this node to the other nodes (each with
        a ``move`` run: a new unit there, switched in like a redeploy), the
        node taking nothing new meanwhile; drained once they are gone.
        Returns the runs queued."""
        self._ops_check_manager()
        queued = []
        for node in self:
            envs = node._ops_environments().filtered(lambda e: e.state in ("running", "stopped"))
            targets = node._ops_targets()
            if envs and not targets:
                raise UserError(_("%(node)s cannot be drained: no other node of %(host)s is ready and active to "
                                  "take its %(count)d environments.", node=node.name, host=node.host_id.name,
                                  count=len(envs)))
            node._ops_set_availability("pause", draining=True)
            for index, env in enumerate(envs.sorted(lambda e: (e.stage != "production", e.id))):
                queued.append(env._ops_queue_move(targets[index % len(targets)].name))
        self._ops_finish_drains()
        return queued

    def action_activate(self):
        """Take environments again (after a drain, or a pause)."""
        self._ops_check_manager()
        for node in self:
            node._ops_set_availability("active", draining=False)
        return True

    def _ops_set_availability(self, availability, draining):
        """The node's Swarm availability, then its draining flag; a manager that refuses is a clear error."""
        self.ensure_one()
        try:
            self.host_id._ops_engine(timeout=30).set_availability(self.name, availability)
        except runtime.RuntimeFailure as exc:
            raise UserError(_("The swarm manager of %(host)s does not set %(node)s to %(availability)s: %(error)s",
                              host=self.host_id.name, node=self.name, availability=availability,
                              error=exc)) from exc
        self.draining = draining

    @api.model
    def _ops_finish_drains(self):
        """A draining node none of whose environments is left there is drained
        (its Swarm availability ``drain``: nothing of the platform runs on it
        any more). Called after a drain and by the reconciliation."""
        done = []
        # sudo: the platform's bookkeeping of its nodes
        for node in self.sudo().search([("draining", "=", True)]):
            if node._ops_environments().filtered(lambda e: e.state in ("running", "stopped", "building")):
                continue
            try:
                node.host_id._ops_engine(timeout=30).set_availability(node.name, "drain")
            except runtime.RuntimeFailure as exc:
                _logger.warning("ops nodes: %s not drained yet: %s", node.name, exc)
                continue
            node.draining = False
            done.append(node.name)
        return done

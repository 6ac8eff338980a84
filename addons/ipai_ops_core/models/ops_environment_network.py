import logging

from odoo import api, fields, models

from ..executors import network
from ..executors.base import RunFailed
from ..services import env_network, firewall, naming, postgres, runtime

_logger = logging.getLogger(__name__)


class OpsEnvironment(models.Model):
    """Where an environment's containers live on the network: a Docker
    network of its own (services/env_network.py), its serving container's
    address there (what the front door proxies to), and, for development
    and staging, what its project's egress allow-list lets it reach."""

    _inherit = "ops.environment"

    network_name = fields.Char("Network", readonly=True, copy=False,
                               help="The Docker network of this environment's containers (never the host's).")
    network_subnet = fields.Char("Subnet", readonly=True, copy=False)
    container_ip = fields.Char("Container address", readonly=True, copy=False,
                               help="The serving container's address on its network: the front door proxies "
                                    "to it; nothing else on the host does.")
    network_egress = fields.Char("Egress", compute="_compute_network_egress",
                                 help="What this environment's code reaches outside its network.")

    @api.depends("stage", "project_id.egress_allowlist")
    def _compute_network_egress(self):
        for env in self:
            if env.stage == "production":
                env.network_egress = "The internet; of the platform, its own database only."
                continue
            hosts = [line.split("#", 1)[0].strip() for line in (env.project_id.egress_allowlist or "").splitlines()]
            hosts = [host for host in hosts if host]
            env.network_egress = "Its own database and the mail catcher; %s." % (
                "through the egress proxy: %s" % ", ".join(hosts) if hosts else "no other host (no allow-list)")

    def _ops_network_settings(self):
        """The network values of this environment's runs (see executors/network.py)."""
        self.ensure_one()
        return dict(self._ops_network_spec()["network_settings"], allowlist=self.project_id.egress_allowlist or "")

    @api.model
    def _ops_network_spec(self):
        """The plain values the network side effects of the whole control
        plane take (executors/network.py)."""
        settings = self.env["ops.run"]._ops_settings()
        # The front door where it listens beyond the loopback: an environment
        # reaches its own public name (and every other public one) like any visitor.
        front = sorted({int(listen.rpartition(":")[2]) for listen in (settings["proxy_listen"],
                                                                      settings["proxy_listen_tls"])
                        if listen and listen.rpartition(":")[0].strip("[]") not in ("127.0.0.1", "::1", "localhost")})
        return {"namespace": naming.namespace_for(self.env.cr.dbname), "db": settings["db"],
                "network_settings": {"pool": settings["network_pool"], "egress_root": settings["egress_root"],
                                     "egress_port": settings["egress_port"],
                                     "mail_port": settings["mail_catcher_port"], "front_door_ports": front,
                                     "doors_root": settings["doors_root"],
                                     # production's cluster: reached from production networks only
                                     "shared_db": settings["db"], "production_db": settings["production_db"],
                                     # refused to every environment network (pg_hba)
                                     "control_db": self.env.cr.dbname}}

    @api.model
    def _ops_reconcile_network(self):
        """What the environments' networks rely on, set again from what
        exists (after a reboot the host's firewall rules and the egress
        proxy are gone; a removed network leaves pg_hba lines): the
        firewall, the database server's rules, the egress proxy's rules.
        Returns what it did, or why it could not."""
        spec = self._ops_network_spec()
        swarm = self._ops_reconcile_swarm_doors(spec)
        local = self._ops_reconcile_local_network(spec)
        return "%s; %s" % (local, swarm) if swarm else local

    @api.model
    def _ops_reconcile_swarm_doors(self, spec):
        """Each swarm host's side of the doors: the host relay running (its
        sockets lead the environments to the database server) and pg_hba's
        sections of that host as its networks are. "" without swarm hosts."""
        done = []
        # sudo: hosts are managers' records; the cron needs their endpoints
        for host in self.env["ops.host"].sudo().search([("runtime_kind", "=", "swarm")]):
            try:
                host._ops_sync_nodes()  # a machine that joined appears among its nodes
                status = network.reconcile_swarm(dict(spec, runtime_kind="swarm", host=host.name,
                                                      node_engines=host._ops_node_engines()), host._ops_engine())
            except (runtime.RuntimeFailure, postgres.PostgresError, RunFailed) as exc:
                _logger.error("ops network: swarm host %s: %s", host.name, exc)
                status = "failed: %s" % exc
            done.append("swarm %s: %s" % (host.name, status))
        return ", ".join(done)

    @api.model
    def _ops_reconcile_local_network(self, spec):
        host = self.env["ops.host"]._ops_named("local")
        try:
            engine = runtime.connect(host.docker_url or None, timeout=60)
            nets = env_network.networks(engine, spec["namespace"])
            if not nets:
                return "no networks"
            network.secure_host(spec)
            hba = network.sync_database_access(spec, engine)
        except (runtime.RuntimeFailure, firewall.FirewallError, postgres.PostgresError) as exc:
            _logger.error("ops network: %s", exc)
            return "failed: %s" % exc
        isolated = {net["environment_id"] for net in nets if net["kind"] == env_network.ISOLATED}
        # sudo: the proxy's rules cover every project's development and staging
        envs = self.sudo().search([("id", "in", list(isolated)), ("state", "!=", "destroyed"),
                                   ("network_subnet", "!=", False)])
        envs.project_id._ops_apply_egress()
        return "firewall set, pg_hba %s, %d environments behind the egress proxy" % (hba["status"], len(envs))

    @api.model
    def _ops_move_off_host_network(self):
        """Queue a ``recreate`` for every running environment whose container
        still runs on the host's network (made before environments had
        networks of their own): each moves to its own network, switched like
        a build, its URL answering throughout. Module update calls this;
        a stopped one moves when it is started. Returns the runs queued."""
        # sudo: the platform moves every project's environments, whoever updates the module
        envs = self.sudo().search([("state", "=", "running"), ("container_id", "!=", False),
                                   ("container_ip", "=", False), ("upstream_socket", "=", False)])
        runs = []
        for env in envs:
            # sudo: the platform's own run; the key makes a second call return the same one
            runs.append(self.env["ops.run"].sudo()._ops_queue({
                "project_id": env.project_id.id, "environment_id": env.id, "kind": "recreate", "priority": 20,
                "idempotency_key": "network-move-%d-%s" % (env.id, env.container_id[:12])}, trusted=True))
        if envs:
            _logger.info("ops network: %d environments queued to move off the host's network", len(envs))
        return runs

import logging
from datetime import timedelta

from odoo import api, fields, models

from ..executors import garbage, node_sweep
from ..services import env_network, naming, runtime

_logger = logging.getLogger(__name__)


class OpsEnvironment(models.Model):
    """Garbage collection of environments (the lifecycle cron)."""

    _inherit = "ops.environment"

    @api.model
    def _cron_collect_garbage(self):
        """Destroy expired development environments, then remove what this
        control plane made and no environment owns any more: containers,
        databases of the projects' roles and images beyond the last few."""
        queued = self._gc_expire_development()
        # sudo: the garbage collection cron looks at every host
        hosts = [(host.name, host.docker_url, host.runtime_kind) for host in self.env["ops.host"].sudo().search([])]
        removed = self._gc_orphans(hosts)
        _logger.info("ops gc: %d destroy runs queued, removed %s", queued, removed)
        return {"destroy_queued": queued, **removed}

    @api.model
    def _gc_expire_development(self):
        now = fields.Datetime.now()
        queued = 0
        # Development builds, and the upgrade previews (copies of production migrated to the next version).
        # sudo: the lifecycle cron goes over every project
        for env in self.sudo().search(["|", ("stage", "=", "development"), ("upgrade_to", "!=", False),
                                       ("state", "in", ("running", "stopped", "failed"))]):
            last = env.last_run_id.finished_at or env.last_run_id.create_date or env.write_date
            if last and last < now - timedelta(days=env.project_id.dev_lifetime_days):
                # sudo: the lifetime is the project's own setting; the key makes
                # a second pass of the cron return the same run.
                self.env["ops.run"].sudo().queue_run({
                    "project_id": env.project_id.id, "environment_id": env.id, "kind": "destroy",
                    "idempotency_key": "gc-expire-%d-%s" % (env.id, fields.Date.to_string(last.date())),
                })
                queued += 1
        return queued

    @api.model
    def _gc_state(self):
        """What the collector must leave alone, as plain values: every live
        environment's container, images and databases, runs in progress."""
        # sudo: the collector needs every environment and run, of every project
        envs = self.sudo().with_context(active_test=False).search([])  # pylint: disable=no-search-all
        live = envs.filtered(lambda e: e.state != "destroyed")
        active_runs = self.env["ops.run"].sudo().search([("state", "in", ("claimed", "running"))])
        plane = naming.namespace_for(self.env.cr.dbname)
        return {
            "plane": plane, "db": self.env["ops.run"]._ops_settings()["db"],
            # production's cluster (ipai_ops_backup's ops.pitr), when there is one: collected the same way
            "production_db": self.env["ops.run"]._ops_settings()["production_db"],
            "live_ids": set(live.ids),
            "containers": {env.container_id for env in live if env.container_id},
            "images": {digest for env in live for digest in (env.image_digest, env.previous_image_digest) if digest},
            "databases": {name for env in live for name in (env.database_name, env.previous_database_name) if name},
            "roles": {env.db_role for env in live if env.db_role},
            "active_runs": {str(run_id) for run_id in active_runs.ids},
            "busy_envs": set(active_runs.environment_id.ids),
            "network_kinds": {env.id: env_network.kind_for_stage(env.stage) for env in live},
            "busy_roles": {naming.legacy_role_name(plane, slug) for slug in active_runs.project_id.mapped("slug")},
        }

    @api.model
    def _gc_orphans(self, hosts):
        """``hosts``: [(name, Docker endpoint)] to collect containers and images on."""
        state = self._gc_state()
        removed = garbage.collect_hosts(hosts, state)
        removed.update(garbage.collect_databases(state))
        if state["production_db"]:
            on_cluster = garbage.collect_databases(dict(state, db=state["production_db"]))
            removed.update({key: removed.get(key, 0) + count for key, count in on_cluster.items()})
        if removed.get("networks"):
            self._ops_reconcile_network()  # their pg_hba lines go with them
        removed["node_dirs"] = self._gc_node_dirs(state["busy_envs"], runs=state["active_runs"])
        return removed

    @api.model
    def _gc_node_dirs(self, busy, quiet=node_sweep.QUIET, runs=None):
        """The data directories that nodes with a disk of their own keep of
        environments not pinned to them (destroyed, or moved or restored
        elsewhere while the node did not answer), and the copies of tools
        that runs other than ``runs`` (ids of the runs in progress; None:
        no copy goes) left there, removed through each node's engine
        (executors/node_sweep.py); ``busy``: environments a run works on,
        left alone, as is a directory where something changed in the last
        ``quiet`` seconds. Returns the number removed."""
        root = self.env["ops.run"]._ops_settings()["filestore_root"]
        node_sweep.mark_platform_disk(root)
        labels = runtime.labels_for(naming.namespace_for(self.env.cr.dbname), role="sweep")
        removed = 0
        # sudo: the collector looks at every host's nodes and every environment that ran there
        Env = self.sudo().with_context(active_test=False)
        for node in self.env["ops.host.node"].sudo().search([("storage", "=", "own"), ("docker_url", "!=", False),
                                                             ("state", "=", "ready")]):
            gone = Env.search([("host", "=", node.host_id.name), ("id", "not in", list(busy)), "|",
                               ("state", "=", "destroyed"), ("swarm_node", "!=", node.name)])
            relatives = [node_sweep.env_relative(env.project_id.slug, env.id) for env in gone]
            try:
                done = node_sweep.remove_dirs(node.name, node.docker_url, root, relatives, labels, quiet,
                                              runs_in_progress=runs)
            except runtime.RuntimeFailure as exc:
                _logger.warning("ops gc: node %s: %s", node.name, exc)
                continue
            if done:
                _logger.info("ops gc: removed from node %s's disk: %s", node.name, ", ".join(done))
            removed += len(done)
        return removed

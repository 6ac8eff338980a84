import logging
from datetime import timedelta

from odoo import api, fields, models

from ..services import docker_engine, naming, postgres

_logger = logging.getLogger(__name__)
KEEP_IMAGES = 3  # per environment, for rollback


class OpsEnvironment(models.Model):
    """Garbage collection of environments (the lifecycle cron)."""

    _inherit = "ops.environment"

    @api.model
    def _cron_collect_garbage(self):
        """Destroy expired development environments, then remove what this
        control plane made and no environment owns any more: containers,
        databases of the projects' roles and images beyond the last few."""
        queued = self._gc_expire_development()
        engines = []
        # sudo: the garbage collection cron looks at every host
        for host in self.env["ops.host"].sudo().search([]):
            try:
                engines.append(docker_engine.DockerEngine(host.docker_url))
            except docker_engine.DockerError as exc:
                _logger.warning("ops gc: host %s: %s; its containers and images not collected", host.name, exc)
        removed = self._gc_orphans(engines)
        _logger.info("ops gc: %d destroy runs queued, removed %s", queued, removed)
        return {"destroy_queued": queued, **removed}

    @api.model
    def _gc_expire_development(self):
        now = fields.Datetime.now()
        queued = 0
        # sudo: the lifecycle cron goes over every project
        for env in self.sudo().search([("stage", "=", "development"), ("state", "in", ("running", "stopped",
                                                                                        "failed"))]):
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
    def _gc_orphans(self, engines):
        # sudo: the collector needs every environment to know what is owned
        envs = self.sudo().with_context(active_test=False).search([])
        live = envs.filtered(lambda e: e.state != "destroyed")
        # sudo: as above, every run in progress
        active_runs = self.env["ops.run"].sudo().search([("state", "in", ("claimed", "running"))])
        active_run_ids = {str(i) for i in active_runs.ids}
        removed = {"containers": 0, "databases": 0, "images": 0}
        for engine in engines:
            plane = naming.namespace_for(self.env.cr.dbname)
            owned = {env.container_id for env in live if env.container_id}
            for container in engine.containers({docker_engine.LABEL_PREFIX + "plane": plane}):
                if container["id"] in owned or container["labels"].get("ipai-ops.run") in active_run_ids:
                    continue
                removed["containers"] += engine.remove_container(container["id"])
            keep = {env.image_digest for env in live if env.image_digest}
            keep |= {env.previous_image_digest for env in live if env.previous_image_digest}
            by_env = {}
            for image in engine.images({docker_engine.LABEL_PREFIX + "plane": plane}):
                by_env.setdefault(image["labels"].get("ipai-ops.environment"), []).append(image)
            live_ids = {str(env.id) for env in live}
            for env_id, images in by_env.items():
                # Newest first by run id; a destroyed environment keeps none.
                images.sort(key=lambda i: int(i["labels"].get("ipai-ops.run") or 0), reverse=True)
                spare = KEEP_IMAGES if env_id in live_ids else 0
                for image in images[spare:]:
                    if image["id"] not in keep and image["labels"].get("ipai-ops.run") not in active_run_ids:
                        removed["images"] += engine.remove_image(image["id"])
        removed.update(self._gc_databases(live, active_runs))
        return removed

    @api.model
    def _gc_databases(self, live, active_runs):
        """Databases and roles this control plane made that no live
        environment uses: builds and drills left behind, verified copies
        of destroyed environments, roles of destroyed environments."""
        settings = self.env["ops.run"]._ops_settings()
        admin, plane = settings["db"], naming.namespace_for(self.env.cr.dbname)
        in_use = {env.database_name for env in live if env.database_name}
        in_use |= {env.previous_database_name for env in live if env.previous_database_name}
        live_ids = set(live.ids)
        busy_envs = set(active_runs.environment_id.ids)
        busy_roles = {naming.legacy_role_name(plane, slug) for slug in active_runs.project_id.mapped("slug")}
        busy_runs = {str(run_id) for run_id in active_runs.ids}
        ours = "ops_%s_" % plane
        removed = {"databases": 0, "roles": 0}
        candidates = postgres.list_databases(admin, plane + "_") + postgres.list_databases(admin, "drill_%s_" % plane)
        candidates += postgres.list_databases(admin, "vbk_%s_" % plane)
        for name in candidates:
            if name in in_use:
                continue
            owner = postgres.database_owner(admin, name)
            if not owner or not owner.startswith(ours):
                continue  # not made by this control plane's roles: not ours to judge
            parts = name.split("_")
            if name.startswith("vbk_"):
                if int(parts[2]) in live_ids:
                    continue  # the verified copy of a live environment
            elif name.startswith("drill_"):
                if parts[2] in busy_runs:
                    continue
            elif len(parts) > 2 and parts[1].isdigit():
                if int(parts[1]) in busy_envs:
                    continue  # a run of that environment may be creating it right now
            elif owner in busy_roles:
                continue  # an older name: its project has a run going on
            postgres.drop_database(admin, name, owner=owner)
            removed["databases"] += 1
        # Roles of environments that are gone, and the shared project roles of
        # older installations once no environment uses them.
        roles_in_use = {env.db_role for env in live if env.db_role} | busy_roles
        for role in postgres.list_roles(admin, ours):
            suffix = role[len(ours):]
            if role in roles_in_use or suffix.endswith("_tpl"):
                continue
            if suffix[:1] == "e" and suffix[1:].isdigit() and (int(suffix[1:]) in live_ids
                                                              or int(suffix[1:]) in busy_envs):
                continue
            if postgres.databases_owned_by(admin, role):
                continue
            try:
                removed["roles"] += bool(postgres.drop_role(admin, role))
            except postgres.PostgresError as exc:
                _logger.info("ops gc: role %s kept: %s", role, exc)
        return removed

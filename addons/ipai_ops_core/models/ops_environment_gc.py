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
        envs = self.sudo().with_context(active_test=False).search([])
        live = envs.filtered(lambda e: e.state != "destroyed")
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
        settings = self.env["ops.run"]._ops_settings()
        in_use = {env.database_name for env in live if env.database_name}
        in_use |= {env.previous_database_name for env in live if env.previous_database_name}
        for project in envs.project_id:
            if active_runs.filtered(lambda r, p=project: r.project_id == p):
                continue  # a build of this project may be creating its database right now
            # The project's role owns its databases and nothing else.
            for name in postgres.databases_owned_by(settings["db"], project.db_role):
                # tpl_: development build templates; vbk_: verified backup copies
                if name in in_use or name.startswith(("tpl_", "vbk_")):
                    continue
                postgres.drop_database(settings["db"], name)
                removed["databases"] += 1
        return removed

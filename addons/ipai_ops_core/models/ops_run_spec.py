"""What an executor gets: the plain values (a spec) made from a claimed run and its records."""

import os

from odoo import api, fields, models, tools

from ..executors.base import RunFailed
from ..services import egress, env_network, naming


class OpsRun(models.Model):
    _inherit = "ops.run"

    @api.model
    def _ops_settings(self):
        """Where environments live: database server, paths, Docker, ports."""
        # sudo: configuration parameters are readable by system users only
        param = self.env["ir.config_parameter"].sudo().get_param
        cfg = tools.config
        data_root = param("ipai_ops.data_root") or os.path.join(cfg["data_dir"], "ipai_ops")
        namespace = naming.namespace_for(self.env.cr.dbname)
        settings = {
            "db": {
                "host": param("ipai_ops.env_db_host") or cfg["db_host"] or "127.0.0.1",
                "port": int(param("ipai_ops.env_db_port") or cfg["db_port"] or 5432),
                "user": param("ipai_ops.env_db_user") or cfg["db_user"],
                "password": param("ipai_ops.env_db_password") or cfg["db_password"],
            },
            # Production's cluster (WAL-archived by the backup module's pgBackRest
            # setup): where new productions' databases go once it is set up; None
            # before, and productions stay on the server above.
            "production_db": self._ops_production_db(param, cfg),
            # Per control plane (several may share a data directory: runs and
            # environments of two control planes have the same ids).
            "work_root": os.path.join(data_root, "work", namespace),
            "git_cache": os.path.join(data_root, "git"),
            "filestore_root": os.path.join(data_root, "filestore"),
            # environments' configuration files (their credentials): root only
            "secrets_root": os.path.join(data_root, "secrets", namespace),
            "demo_root": os.path.join(data_root, "demo"),
            # the front door (services/nginx.py): where its files live, where it listens, the names it serves
            "proxy_root": param("ipai_ops.proxy_root") or os.path.join(data_root, "proxy"),
            "proxy_listen": param("ipai_ops.proxy_listen") or "127.0.0.1:8080",
            # HTTPS for the names a certificate covers (ops.certificate); empty: no TLS listener
            "proxy_listen_tls": param("ipai_ops.proxy_listen_tls") or "",
            "public_tls_port": param("ipai_ops.public_tls_port") or "",
            "base_domain": param("ipai_ops.base_domain") or "ops.localhost",
            "public_scheme": param("ipai_ops.public_scheme") or "http",
            "public_port": param("ipai_ops.public_port") or "",
            # the environments' networks (services/env_network.py) and what they reach on the host
            "network_pool": param("ipai_ops.network_pool") or env_network.DEFAULT_POOL,
            "egress_root": param("ipai_ops.egress_root") or os.path.join(data_root, "egress", namespace),
            "egress_port": int(param("ipai_ops.egress_proxy_port") or egress.DEFAULT_PORT),
            "mail_catcher_port": int(param("ipai_ops.mail_catcher_port") or 2525),
        }
        # swarm hosts: the gateway's sockets, beside the front door's files (its workers walk to them)
        settings["doors_root"] = os.path.join(os.path.dirname(settings["proxy_root"]), "doors", namespace)
        return settings

    @api.model
    def _ops_production_db(self, param, cfg):
        port = param("ipai_ops.production_db_port")
        if not port:
            return None
        return {"host": param("ipai_ops.production_db_host") or "127.0.0.1", "port": int(port),
                # the control plane's role there has a password of its own (set up with the cluster)
                "user": param("ipai_ops.env_db_user") or cfg["db_user"],
                "password": param("ipai_ops.production_db_password") or False}

    def _ops_leftover_spec(self):
        """The values the leftovers of this run are found and removed with
        (executors/cleanup.py): no credential made."""
        self.ensure_one()
        # sudo: the reaper and workers clean up for the platform, never for a user
        run, env, project = self.sudo(), self.sudo().environment_id, self.sudo().project_id
        settings = self._ops_settings()
        namespace = naming.namespace_for(self.env.cr.dbname)
        host = self.env["ops.host"]._ops_named(env.host)  # (the cleanup needs the environment's engine)
        spec = {
            "namespace": namespace, "run_id": run.id, "environment_id": env.id, "project_slug": project.slug,
            "db": env._ops_db_server(settings), "db_role": naming.env_role_name(namespace, env.id),
            "legacy_role": naming.legacy_role_name(namespace, project.slug),
            "work_root": settings["work_root"], "secrets_root": settings["secrets_root"],
            "filestore_root": settings["filestore_root"], "docker_url": host.docker_url or None,
            "runtime_kind": host.runtime_kind or "docker", "host": host.name or "local",
            "current": {"container_id": env.container_id or None, "database_name": env.database_name or None,
                        "previous_database_name": env.previous_database_name or None,
                        "db_owner": env.db_role or None},
        }
        if host.runtime_kind == "swarm":  # where its files are: a node's own disk keeps what the attempt left there
            spec.update(node=run._ops_unit_node(), node_engines=host._ops_node_engines(),
                        node_storage=host._ops_node_storage())
        return spec

    def _ops_unit_node(self):
        """The node of the environment's unit for this run: the run's (a
        move), else the one it is pinned to (executors/swarm_unit.placement);
        None for a node lost (a node that answers, the manager's)."""
        # sudo: the run's environment, read for the platform's spec
        env = self.sudo().environment_id
        return (self.sudo().config or {}).get("node") or (not env.node_lost and env.swarm_node) or None

    def _executor_spec(self, host_name="local"):
        """The plain values an executor needs (no records cross this line):
        made by the methods the run's kind names (executors/registry.py)."""
        self.ensure_one()
        kind = self._ops_run_kinds().get(self.kind)
        if not kind:
            raise RunFailed("No executor for '%s' runs (is the addon that defines them installed?)." % self.kind)
        spec = getattr(self, kind.spec)(host_name)
        for method in kind.extend_spec:
            spec = getattr(self, method)(spec)
        return spec

    def _ops_environment_spec(self, host_name="local"):
        """The spec of a run on an environment: its project, code, database,
        network, runtime and what it runs now."""
        self.ensure_one()
        # sudo: a worker's spec is made by the platform for a claimed run, never returned to users
        run, env, project = self.sudo(), self.sudo().environment_id, self.sudo().project_id
        settings = self._ops_settings()
        # An environment stays on the host it was built on.
        host = self.env["ops.host"]._ops_named(env.host or host_name)
        if not host:
            raise RunFailed("No Docker host named %r (Ops > Configuration > Docker hosts)." % (env.host or host_name))
        if not env:
            raise RunFailed("A '%s' run needs an environment." % run.kind)
        project._ops_check_repo_url()
        if self._ops_run_kinds()[run.kind].starts_container:
            host._ops_check_memory(env)  # a new container must fit next to those running
        namespace = naming.namespace_for(self.env.cr.dbname)
        env._ops_place_database(settings)
        role, password = env._ops_db_credentials()
        for path in (settings["work_root"], settings["git_cache"], settings["filestore_root"]):
            os.makedirs(path, exist_ok=True)
        os.makedirs(settings["secrets_root"], mode=0o700, exist_ok=True)
        for path in (settings["secrets_root"], os.path.dirname(settings["secrets_root"])):
            os.chmod(path, 0o700)
        spec = {
            "namespace": namespace, "project_id": project.id,
            "template_role": naming.template_role_name(namespace, project.id),
            "legacy_role": naming.legacy_role_name(namespace, project.slug),
            "admin_password": env._ops_admin_password(), "secrets_root": settings["secrets_root"],
            "run_id": run.id, "run_number": run.number, "kind": run.kind, "project_slug": project.slug,
            "environment_id": env.id or 0, "branch": env.branch or project.default_branch,
            "stage": env.stage or False, "repo_url": project.repo_url, "ref": run.ref or env.branch,
            "commit_sha": run.commit_sha or None, "tool_image": project.tool_id.image or "ipai-ops/odoo:18.0",
            "odoo_version": project.odoo_version, "tool": project.tool_id._ops_build_spec(),
            "modules_mode": project.modules_mode, "module_list": project.module_list or "",
            "test_tags": project.test_tags or None, "mem_limit": "%dm" % project.mem_limit_mb,
            "nano_cpus": int(project.cpu_limit * 1e9), "db": env._ops_db_server(settings), "db_role": role,
            "db_role_password": password, "work_root": settings["work_root"], "git_cache": settings["git_cache"],
            "filestore_root": settings["filestore_root"], "network_settings": env._ops_network_settings(),
            "docker_url": host.docker_url, "host": host.name, "runtime_kind": host.runtime_kind or "docker",
            "current": {"container_id": env.container_id or None, "database_name": env.database_name or None,
                        "db_owner": env.db_role or None,
                        "image_digest": env.image_digest or None, "internal_url": env.internal_url or None,
                        "container_ip": env.container_ip or None,
                        "previous_image_digest": env.previous_image_digest or None,
                        "previous_database_name": env.previous_database_name or None,
                        "data_source": env.data_source or None, "swarm_node": env.swarm_node or None},
        }
        if host.runtime_kind == "swarm":
            spec["node"] = run._ops_unit_node()
            spec["node_engines"] = host._ops_node_engines()
            spec["node_storage"] = host._ops_node_storage()
            if run.kind == "drill":
                spec["node"] = None  # a drill reads the backup only: it runs on the manager's node
            spec["node_endpoints"] = host._ops_node_endpoints()
            spec["stay_stopped"] = run.kind == "move" and bool((run.config or {}).get("stopped"))
        if (run.kind == "deploy" and env.stage == "production" and env.db_cluster == "shared"
                and env.database_name and settings.get("production_db")):
            # made before production's cluster existed: this deploy moves it there
            spec["move_to"] = settings["production_db"]
        spec["runtime"] = env._ops_runtime()
        spec["public_url"] = env._ops_public_url()
        spec["mail"] = env._ops_mail_catcher() if env and env.stage != "production" else None
        return spec

    def _ops_staging_data_spec(self, spec):
        """A staging build's data (see executors/staging.py)."""
        if spec["stage"] == "staging":
            # sudo: as in _ops_environment_spec
            env = self.sudo().environment_id
            spec.update(self._ops_upgrade_mode_spec(env) if env.upgrade_to else
                        self._ops_staging_spec(env, spec, self.config or {}))
        return spec

    def _ops_promotion_spec(self, spec):
        """A deploy promoting a staging build: that very image."""
        config = self.config or {}
        if not config.get("promote_environment_id"):
            return spec
        # sudo: the promotion's source; its project is checked just below
        source = self.env["ops.environment"].sudo().browse(config["promote_environment_id"]).exists()
        if source and source.project_id != self.sudo().project_id:
            raise RunFailed("Refusing to promote %s: it belongs to another project than %s."
                            % (source.name, spec["project_slug"]))
        if not source or source.image_digest != config.get("image_digest"):
            raise RunFailed("The staging build to promote changed or is gone; promote it again.")
        spec["promote_image"] = config["image_digest"]
        spec["promote_from"] = source.name
        return spec

    def _ops_staging_spec(self, env, spec, config):
        """Where a staging build takes its data from (see executors/staging.py)."""
        project = env.project_id
        production = project.environment_ids.filtered(lambda e: e.stage == "production" and e.state != "destroyed")
        values = {"staging_source": None, "staging_mode": "copy", "obfuscate": project.staging_obfuscate,
                  "scrub_sql": [line.strip() for line in (project.staging_scrub_sql or "").splitlines()
                                if line.strip() and not line.strip().startswith("--")]}
        if config.get("trigger") == "push" and project.staging_commit_policy == "update" and env.database_name:
            values["staging_mode"] = "update"
        if not production.database_name:
            return values
        prod_store = os.path.join(spec["filestore_root"], project.slug, "env-%d" % production.id, "filestore")
        values["staging_source"] = self._ops_staging_source(project.staging_source, production, prod_store, spec)
        return values

    def _ops_staging_source(self, source, production, prod_store, spec):
        """Where staging's data comes from, for the project's ``source``
        (ops.project.staging_source; another addon adds its own sources)."""
        if source != "production":
            raise RunFailed("Staging data from %r: the addon that provides it is not installed." % source)
        unreachable = production._ops_files_unreachable("a staging copy of it")
        if unreachable:
            raise RunFailed(unreachable)
        node = production._ops_own_disk_node()  # its filestore is there, the build copies it from that disk
        return {"kind": "live", "database": production.database_name, "owner": production.db_role or None,
                "server": production._ops_db_server(),
                "filestore": os.path.join(prod_store, production.database_name),
                "node": {"name": node.name, "docker_url": node.docker_url} if node else None,
                "label": "Copy of production (%s) at %s UTC" % (production.database_name,
                                                               fields.Datetime.to_string(fields.Datetime.now()))}

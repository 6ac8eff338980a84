import datetime
import logging
import os
import secrets
import time

import psycopg2
from odoo import _, api, models, tools
from odoo.addons.ipai_ops_core.models.rpc_args import positive_id
from odoo.addons.ipai_ops_core.services import filestore, naming
from odoo.exceptions import AccessError, UserError

from ..services import archived_cluster, pg_cluster, pgbackrest, pitr

STANZA = "production"
_logger = logging.getLogger(__name__)


class OpsPitr(models.AbstractModel):
    """Production's cluster and its point-in-time recovery (pgBackRest):
    set up once (``setup``), backed up by a cron (weekly full, daily
    differential, WAL archived continuously), shown per project
    (``status``), restored to a second into staging or production
    (``restore``, a restore run: executors/backup.py)."""

    _name = "ops.pitr"
    _description = "Point-in-time recovery of production"

    # -- configuration ----------------------------------------------------------
    @api.model
    def _ops_config(self):
        """The plain values of production's cluster and its stanza, or None before ``setup``."""
        # sudo: configuration parameters are system records; the values never reach users
        param = self.env["ir.config_parameter"].sudo().get_param
        port = param("ipai_ops.production_db_port")
        if not port:
            return None
        root = param("ipai_ops.pitr_root") or os.path.join(
            param("ipai_ops.data_root") or os.path.join(tools.config["data_dir"], "ipai_ops"), "pitr")
        repos = [{"path": os.path.join(root, "repo"),
                  "retention_days": int(param("ipai_ops.pitr_retention_days") or pgbackrest.DEFAULT_RETENTION_DAYS)}]
        server = self.env["ops.run"]._ops_settings()["production_db"]
        offsite, problem = self.env["ops.backup"]._offsite_settings(), None
        if offsite:
            try:
                repos.append(pgbackrest.s3_repo(
                    offsite, "/%s/pitr" % naming.namespace_for(self.env.cr.dbname),
                    param("ipai_ops.pitr_cipher_pass"), ca_file=param("ipai_ops.pitr_s3_ca_file") or None,
                    retention_days=repos[0]["retention_days"]))
            except (pgbackrest.PgBackRestError, pg_cluster.ClusterError) as exc:
                problem = _("WAL is archived locally only: %s", exc)
        return {"offsite_problem": problem, "root": root, "datadir": os.path.join(root, "data"),
                "socket_dir": os.path.join(root, "run"), "port": int(port),
                "base_dir": os.path.join(root, "pgbackrest"), "stanza": STANZA, "repos": repos,
                "archive_timeout": int(param("ipai_ops.pitr_archive_timeout") or 60), "conn": server}

    def _ops_check_manager(self):
        if not self.env.user.has_group("ipai_ops_core.group_ops_manager"):
            raise AccessError(_("Only Ops managers set up or recover production's cluster."))

    @api.model
    def setup(self, port=5434, archive_timeout=60):
        """Make production's cluster (initdb, WAL archiving with pgBackRest,
        a first full backup) and send new productions' databases there.
        Idempotent: a second call re-applies the settings. Ops managers."""
        self._ops_check_manager()
        # sudo: the platform's own settings, written once the manager check above passed
        params = self.env["ir.config_parameter"].sudo()
        port = positive_id(self.env, port, "port")
        params.set_param("ipai_ops.production_db_port", str(port))
        timeout = positive_id(self.env, archive_timeout, "archive_timeout")
        params.set_param("ipai_ops.pitr_archive_timeout", str(timeout))
        for key in ("ipai_ops.pitr_superuser_password", "ipai_ops.production_db_password",
                    "ipai_ops.pitr_cipher_pass"):
            if not params.get_param(key):
                params.set_param(key, secrets.token_urlsafe(24))
        config = self._ops_config()
        stanza = pgbackrest.stanza_for(config)
        # The postgres user works below it (the cluster, its repository, restores' side copies).
        os.makedirs(config["root"], mode=0o755, exist_ok=True)
        try:
            info = archived_cluster.ensure(stanza.cluster, stanza, params.get_param("ipai_ops.pitr_superuser_password"),
                                           config["conn"]["user"], config["conn"]["password"],
                                           archive_timeout=config["archive_timeout"], listen="*")
        except (pg_cluster.ClusterError, pgbackrest.PgBackRestError) as exc:
            raise UserError(_("Production's cluster could not be set up: %s", exc)) from exc
        # sudo: which productions are still on the shared server, for the manager who set this up
        waiting = self.env["ops.environment"].sudo().search([
            ("stage", "=", "production"), ("state", "!=", "destroyed"), ("db_cluster", "=", "shared"),
            ("database_name", "!=", False)])
        return {"port": port, "backups": len(info["backups"]), "status": info["status"],
                "repositories": len(config["repos"]), "offsite_problem": config["offsite_problem"] or False,
                # they move onto the cluster with their next deploy (executors/move_database.py)
                "move_with_next_deploy": waiting.mapped("name")}

    @api.model
    def recover(self):
        """Production's cluster lost (its server dead and its data directory
        damaged or gone): rebuilt from the repository up to the last archived
        WAL, archiving on. What was left of the data directory is kept aside.
        Refused while the cluster answers. Ops managers. Returns
        {seconds, kept_aside}."""
        self._ops_check_manager()
        config = self._ops_config()
        if not config:
            raise UserError(_("Production's cluster is not set up."))
        stanza = pgbackrest.stanza_for(config)
        cluster = stanza.cluster
        if self._ops_answers(config):
            raise UserError(_("Production's cluster answers: there is nothing to recover (to undo a mistake, "
                              "restore a point in time)."))
        started = time.monotonic()
        cluster.kill()  # a server that still runs but does not answer
        aside = None
        if os.path.exists(cluster.datadir):
            aside = "%s.lost-%s" % (cluster.datadir, time.strftime("%Y%m%d%H%M%S"))
            os.rename(cluster.datadir, aside)
        try:
            stanza.restore(cluster.datadir, archive=True)
            cluster.start(timeout=3600)
            pitr.wait_promoted(config["conn"], timeout=3600)
            # pg_hba.conf is a file, not WAL: the restored one is the last backup's. The
            # environments' rules are written again from the networks that exist.
            # sudo: every project's networks, for a manager (checked above) acting for the platform
            network = self.env["ops.environment"].sudo()._ops_reconcile_network()
        except (pgbackrest.PgBackRestError, pg_cluster.ClusterError, pitr.PitrError) as exc:
            raise UserError(_("Production's cluster could not be recovered: %(why)s%(aside)s", why=exc,
                              aside=_(" (what was left of it is in %s)", aside) if aside else "")) from exc
        _logger.warning("ops pitr: production's cluster recovered from its repository in %.1fs (left aside: %s; "
                        "network: %s)", time.monotonic() - started, aside, network)
        return {"seconds": round(time.monotonic() - started, 1), "kept_aside": aside or False, "network": network}

    @api.model
    def _ops_answers(self, config):
        try:
            pg_cluster.fetch(config["conn"], "SELECT 1")
        except psycopg2.Error as exc:
            _logger.warning("ops pitr: production's cluster does not answer: %s", str(exc).strip())
            return False
        return True

    # -- what can be restored -----------------------------------------------------
    @api.model
    def _ops_window(self, config=None):
        """{earliest, latest, lag, last_wal, failing, failed_wal, repo_bytes, backups}: the cluster's state now."""
        config = config or self._ops_config()
        if not config:
            return None
        stanza = pgbackrest.stanza_for(config)
        info = stanza.info()
        status = pitr.archive_status(config["conn"])
        earliest, latest = pitr.restorable_window(info, status)
        repo_bytes = sum(filestore.tree_size(repo["path"]) for repo in config["repos"] if repo.get("type") != "s3")
        return {"earliest": earliest, "latest": latest, "lag": status["lag"], "last_wal": status["last_wal"],
                "last_archived": status["last_time"], "failing": status["failing"],
                "failed_wal": status["failed_wal"], "failed_at": status["failed_time"], "repo_bytes": repo_bytes,
                "backups": info["backups"]}

    @api.model
    def _ops_archive_figures(self):
        """For the monitoring collector: {archive_lag_s, archive_failing} of production's cluster."""
        config = self._ops_config()
        if not config:
            return {"archive_lag_s": None, "archive_failing": None}
        try:
            status = pitr.archive_status(config["conn"])
        except psycopg2.Error:  # a cluster that does not answer: nothing archives
            return {"archive_lag_s": None, "archive_failing": 1.0}
        return {"archive_lag_s": status["lag"], "archive_failing": 1.0 if status["failing"] else 0.0}

    @api.model
    def status(self, project):
        """What production of ``project`` can be restored to, for its readers:
        {on_cluster, earliest, latest (UTC), lag_seconds, last_wal, failing, repo_size, backups}."""
        production = self._ops_production(project)
        values = {"project": production.project_id.slug, "environment": production.name,
                  "on_cluster": production.db_cluster == "production"}
        config = self._ops_config() if values["on_cluster"] else None
        window = self._ops_window(config) if config else None
        if not window:
            return dict(values, earliest=False, latest=False)

        def text(moment):
            return moment.astimezone(pitr.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else False

        return dict(values, earliest=text(window["earliest"]), latest=text(window["latest"]),
                    lag_seconds=window["lag"], last_wal=window["last_wal"] or False,
                    last_archived=text(window["last_archived"]), failing=window["failing"],
                    repo_size=window["repo_bytes"], offsite_problem=config["offsite_problem"] or False,
                    backups=[{"label": b["label"], "type": b["type"], "stop": text(
                        datetime.datetime.fromtimestamp(b["stop"], pitr.UTC)), "size": b["repo_size"]}
                        for b in window["backups"]])

    @api.model
    def _ops_production(self, project):
        if not isinstance(project, str) or not project:
            raise UserError(_("Name the project by its slug."))
        found = self.env["ops.project"].search([("slug", "=", project)], limit=1)
        if not found:
            raise UserError(_("No project %s (or it is not yours to see).", project))
        production = found._ops_production()
        if not production:
            raise UserError(_("Project %s has no production environment.", project))
        return production

    # -- restoring ------------------------------------------------------------------
    @api.model
    def restore(self, project, at, to="staging"):
        """Restore production of ``project`` as it was at ``at`` (UTC,
        ``YYYY-MM-DD HH:MM:SS``, or with an offset) into its staging
        environment (``to="staging"``, neutralized) or into production
        itself (``to="production"``: a backup first, the same switch and
        rollback as any restore). Returns the queued run."""
        production = self._ops_production(project)
        if to == "production":
            target = production
        elif to == "staging":
            target = production.project_id.environment_ids.filtered(
                lambda e: e.stage == "staging" and e.state not in ("new", "destroyed") and not e.upgrade_to)[:1]
            if not target:
                raise UserError(_("Project %s has no built staging environment to restore into; build one first.",
                                  project))
        else:
            raise UserError(_("Restore into 'staging' or 'production', not %r.", to))
        # The role check first: who may not restore there learns nothing of the cluster.
        target.project_id._ops_check_action(target.stage, "restore")
        if production.db_cluster != "production":
            raise UserError(_("%s's database is not on production's cluster (it predates it): it cannot be "
                              "restored to a point in time until it moves there, which its next deploy does.",
                              production.name))
        config = self._ops_config()
        try:
            seal = pitr.seal_archive(config["conn"], timeout=30)
            window = pitr.restorable_window(pgbackrest.stanza_for(config).info(), seal)
            moment = pitr.check_target(at, window)
        except (pitr.PitrError, pgbackrest.PgBackRestError) as exc:
            raise UserError(str(exc)) from exc
        if production.database_since and moment < production.database_since.replace(tzinfo=pitr.UTC):
            raise UserError(_("%(env)s runs database %(db)s since %(since)s UTC; a point before that is in the "
                              "database it replaced, which this restore does not reach.", env=production.name,
                              db=production.database_name, since=production.database_since))
        return self.env["ops.backup"]._queue_restore(target, {
            "pitr_at": moment.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"), "pitr_production_id": production.id})

    @api.model
    def _ops_source(self, production, at, filestore_root):
        """The restore spec's source for a point-in-time restore (executors/backup.py)."""
        config = self._ops_config()
        if not config:
            raise UserError(_("Production's cluster is not set up."))
        moment = pitr.parse_target(at)
        store = os.path.join(filestore_root, production.project_id.slug, "env-%d" % production.id, "filestore",
                             production.database_name)
        unreachable = production._ops_files_unreachable(_("a point-in-time restore of it"))
        if unreachable:
            raise UserError(unreachable)
        node = production._ops_own_disk_node()  # its filestore is on that node's disk: the restore copies it
        return {"kind": "pitr", "at": at, "database": production.database_name, "filestore": store,
                "node": {"name": node.name, "docker_url": node.docker_url} if node else None,
                "pitr": {key: config[key] for key in ("root", "datadir", "port", "socket_dir", "base_dir", "stanza",
                                                      "repos", "conn")},
                "label": "Production (%s) as it was at %s" % (production.database_name, pitr.fmt(moment))}

    # -- drills -------------------------------------------------------------------------
    @api.model
    def mark(self, project):
        """Write down production's row counts now (what the hourly cron does):
        a moment a drill can restore to and check. Returns {id, target, counts}."""
        production = self._ops_production(project)
        production.project_id._ops_check_action("production", "drill")
        if production.db_cluster != "production" or not production.database_name:
            raise UserError(_("%s's database is not on production's cluster.", production.name))
        mark = self.env["ops.pitr.mark"]._ops_record(production)
        return {"id": mark.id, "target": mark.target, "counts": mark.counts}

    @api.model
    def drill(self, project, mark_id=None):
        """Queue a point-in-time restore drill of production: to the mark
        ``mark_id``, or to one picked at random in the restorable window.
        Returns the queued run."""
        production = self._ops_production(project)
        production.project_id._ops_check_action("production", "drill")
        mark = None
        if mark_id:
            # sudo: the caller names a mark; it must be this production's (checked below)
            mark = self.env["ops.pitr.mark"].sudo().browse(positive_id(self.env, mark_id, "mark_id")).exists()
            if not mark or mark.environment_id != production:
                raise UserError(_("No mark %(id)s of %(env)s.", id=mark_id, env=production.name))
        return self.env["ops.pitr.mark"]._ops_queue_drill(production, mark)._api_dict()

    # -- schedule -----------------------------------------------------------------------
    @api.model
    def _cron_backup(self, now=None):
        """Weekly full, daily differential (the WAL in between is archived continuously)."""
        config = self._ops_config()
        if not config:
            return None
        stanza = pgbackrest.stanza_for(config)
        now = now or datetime.datetime.now(pitr.UTC)
        fulls = [b for b in stanza.info()["backups"] if b["type"] == "full"]
        kind = "diff" if fulls and now.timestamp() - fulls[-1]["stop"] < 7 * 86400 - 3600 else "full"
        return stanza.backup(kind)

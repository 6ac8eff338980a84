import logging

import psycopg2
from odoo import _, api, models
from odoo.exceptions import UserError

from ..executors import reconcile
from ..services import postgres, runtime

_logger = logging.getLogger(__name__)


class OpsEnvironment(models.Model):
    """The reconciliation cron: what the records say against what Docker,
    PostgreSQL and the proxy say, after a restart of the Docker daemon or of
    the host, an out-of-memory kill, a container or database removed by
    hand. It corrects the record or repairs the environment, and says what it
    found in the environment's chatter."""

    _inherit = "ops.environment"

    @api.model
    def _cron_reconcile(self):
        """Environments first (a repaired one is then served), the front door next."""
        network = self._ops_reconcile_network()
        found = self._ops_reconcile_environments()
        self.env["ops.host.node"]._ops_finish_drains()
        # A transaction begun after those corrections were committed (this
        # one's snapshot predates them: writing the same rows would fail).
        with self.env.registry.cursor() as cr:
            proxy = self.with_env(self.env(cr=cr))._ops_reconcile_proxy()
        return {"network": network, "environments": found, "proxy": proxy}

    @api.model
    def _ops_reconcile_environments(self):
        """Check every running or stopped environment no run is working on;
        returns {environment id: what was found}. Each is checked and
        corrected in a transaction of its own, begun when it is checked, so
        a run that changes it meanwhile wins (the cron skips it)."""
        # sudo: the cron looks after every project's environments
        envs = self.sudo().search(["|", ("state", "in", ("running", "stopped")), "&", ("state", "=", "failed"),
                                   ("node_lost", "=", True), ("container_id", "!=", False)])
        busy = set(self.env["ops.run"].sudo().search([
            ("state", "in", ("claimed", "running")), ("environment_id", "in", envs.ids)]).environment_id.ids)
        settings = self.env["ops.run"]._ops_settings()
        engines, found = {}, {}
        for env in envs.filtered(lambda e: e.id not in busy):
            host = env.host or "local"
            if host not in engines:
                try:
                    engines[host] = self.env["ops.host"]._ops_engine_of(host)
                except runtime.RuntimeFailure as exc:
                    # An engine that does not answer says nothing about its containers: leave them.
                    _logger.warning("ops reconcile: host %s skipped: %s", host, exc)
                    engines[host] = None
            if engines[host]:
                try:
                    server = env._ops_db_server(settings)
                except UserError as exc:
                    _logger.warning("ops reconcile: %s skipped: %s", env.name, exc)
                    continue
                message = self._ops_reconcile_one(env.id, engines[host], server)
                if message:
                    found[env.id] = message
        return found

    @api.model
    def _ops_reconcile_one(self, env_id, engine, db_admin):
        try:
            with self.env.registry.cursor() as cr:
                # sudo: the cron corrects any project's environment
                env = self.with_env(self.env(cr=cr)).sudo().browse(env_id)
                # The row as it is now, locked: a worker that took it since is left alone.
                cr.execute("SELECT 1 FROM ops_environment WHERE id = %s FOR UPDATE NOWAIT", [env_id])
                if (env.state not in ("running", "stopped") and not env.node_lost) or not env.container_id:
                    return None
                finding = reconcile.reconcile(
                    {"id": env.id, "stage": env.stage, "state": env.state, "container_id": env.container_id,
                     "database_name": env.database_name, "node_lost": env.node_lost}, engine, db_admin)
                if not finding:
                    return None
                if finding["values"]:
                    env.write(finding["values"])
                env._message_log(body=_("Reconciliation: %s", finding["message"]))
                _logger.info("ops reconcile: %s: %s", env.name, finding["message"])
                return finding["message"]
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            return None  # a run took the environment meanwhile: the next pass looks again
        except (runtime.RuntimeFailure, postgres.PostgresError) as exc:
            _logger.warning("ops reconcile: environment %s not checked: %s", env_id, exc)
            return None

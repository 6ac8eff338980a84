import html
import logging
import re

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import ValidationError

from ..executors import proxy
from ..services import nginx, nginx_config

_logger = logging.getLogger(__name__)
LABEL_MAX = 63  # characters of a DNS label

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:15vh auto;max-width:32em;color:#333;text-align:center}}</style>
</head><body>{body}</body></html>
"""


class OpsEnvironment(models.Model):
    """Each environment's name behind the platform's front door (nginx):
    ``<branch>.<project>.<base domain>``, its public URL, and the proxy
    configuration rendered from the environments (services/nginx.py)."""

    _inherit = "ops.environment"

    hostname = fields.Char(compute="_compute_hostname", store=True, index=True, copy=False,
                           help="<branch>.<project>.<base domain> (system parameter ipai_ops.base_domain).")
    internal_url = fields.Char("Internal URL", readonly=True, copy=False,
                               help="Where the container answers on its network, behind the proxy.")
    upstream_socket = fields.Char(readonly=True, copy=False,
                                  help="On a swarm host: the host's socket that leads to the environment's unit "
                                       "(the swarm gateway's); its websocket is ws.sock beside it.")
    maintenance = fields.Boolean(readonly=True, copy=False,
                                 help="The proxy shows the maintenance page (a deploy updates the database).")
    domain_ids = fields.One2many("ops.domain", "environment_id", string="Custom domains",
                                 help="Production only: more names served by this environment.")

    @api.depends("branch", "project_id.slug")
    def _compute_hostname(self):
        base = self.env["ops.run"]._ops_settings()["base_domain"]
        for env in self:
            if not (env.branch and env.project_id.slug):
                env.hostname = False
                continue
            # A DNS label: 63 characters at most.
            label = re.sub(r"[^a-z0-9]+", "-", env.branch.lower()).strip("-")[:LABEL_MAX].strip("-") or "branch"
            name = "%s.%s.%s" % (label, env.project_id.slug, base)
            # Two branches may give one label (feature/x, feature-x): the later one carries its id.
            clash = env.id and self.sudo().search_count([  # sudo: names are unique across every project
                ("hostname", "=", name), ("id", "!=", env.id), ("state", "!=", "destroyed")])
            if clash:
                suffix = "-%d" % env.id
                name = "%s%s.%s.%s" % (label[:LABEL_MAX - len(suffix)].strip("-"), suffix, env.project_id.slug, base)
            env.hostname = name

    @api.constrains("branch", "project_id", "hostname")
    def _check_hostname(self):
        """A name nginx cannot serve is refused when the environment is made
        (or its base domain changes), never at switch time."""
        for env in self.filtered("hostname"):
            try:
                nginx_config.validate_hostname(env.hostname)
            except ValueError as exc:
                raise ValidationError(_(
                    "%(name)s cannot be served: a hostname has at most 253 characters, each label at most 63 "
                    "(%(length)s here). Use a shorter project slug or base domain. (%(error)s)",
                    name=env.hostname, length=len(env.hostname), error=exc)) from exc

    def _ops_certificates(self):
        """{name: ops.certificate} for each of the environment's names a
        valid certificate covers (the project's, else the platform's; the
        one that lasts longest)."""
        self.ensure_one()
        # sudo: the names the proxy serves, whoever asks which certificate covers them
        names = [self.hostname] + self.sudo().domain_ids.mapped("name") if self.hostname else []
        # sudo: which certificate covers a name is the platform's business, keys are not read here
        certs = self.env["ops.certificate"].sudo().search([
            ("project_id", "in", [self.project_id.id, False]), ("not_after", ">", fields.Datetime.now())],
            order="not_after desc, id desc")
        found = {}
        for name in names:
            covering = certs.filtered(lambda c, n=name: c._ops_covers(n))
            own = covering.filtered("project_id")
            if covering:
                found[name] = (own or covering)[0]
        return found

    def _ops_public_url(self):
        """The environment's URL through the front door (HTTPS where a
        certificate covers its name and the proxy listens for TLS)."""
        self.ensure_one()
        settings = self.env["ops.run"]._ops_settings()
        scheme = settings["public_scheme"]
        port = settings["public_port"] or settings["proxy_listen"].rpartition(":")[2]
        if settings["proxy_listen_tls"] and self.hostname in self._ops_certificates():
            scheme = "https"
            port = settings["public_tls_port"] or settings["proxy_listen_tls"].rpartition(":")[2]
        default = {"http": "80", "https": "443"}.get(scheme)
        return "%s://%s%s" % (scheme, self.hostname, "" if str(port) == default else ":%s" % port)

    def _ops_proxy_server(self):
        """This environment as a server of the proxy, or None when it has
        nothing to answer with: the maintenance page while a deploy updates
        its database, the stopped page when it is stopped."""
        self.ensure_one()
        if self.state == "destroyed" or not self.hostname or not (self.port or self.state == "stopped"):
            return None
        certs = self._ops_certificates()
        names = [self.hostname] + sorted(self.sudo().domain_ids.mapped("name"))  # sudo: as above
        server = {"names": names, "address": self.container_ip or None, "port": self.port,
                  "ws_port": self.gevent_port or None, "socket": self.upstream_socket or None,
                  "ws_socket": self.upstream_socket and re.sub(r"[^/]+$", "ws.sock", self.upstream_socket),
                  "tls": {name: cert.fingerprint[:32] for name, cert in certs.items()}}
        project = html.escape(self.project_id.name)
        if self.maintenance:
            title = _("%s is being updated", project)
            server["page"] = "maintenance-%d.html" % self.id
            # The project's own page (sanitized HTML), else a plain one.
            body = self.project_id.maintenance_html or "<h1>%s</h1><p>%s</p>" % (
                title, _("This page comes back by itself in a moment."))
            server["page_html"] = PAGE.format(title=title, body=body)
        elif self.state == "stopped":
            title = _("%s is stopped", project)
            server["page"] = "stopped-%d.html" % self.id
            server["page_html"] = PAGE.format(title=title, body="<h1>%s</h1><p>%s</p>" % (
                title, _("Its team can start it again from the platform.")))
        return server

    @api.model
    def _ops_proxy_apply(self):
        """Render the front door from every environment as this transaction
        sees them and load it: checked by nginx first, never loaded when
        refused. Call under ``nginx.locked`` with a transaction begun after
        the lock was taken (``_ops_proxy_reload``, the run reporter)."""
        # sudo: the proxy serves every project's environments
        envs = self.sudo().search([("state", "!=", "destroyed"), ("hostname", "!=", False)],
                                  order="id")
        servers = [server for env in envs if (server := env._ops_proxy_server())]
        used = {cert_id for server in servers for cert_id in server["tls"].values()}
        # sudo: only the platform reads the keys, to hand them to its nginx
        certs = {cert.fingerprint[:32]: (cert.certificate, cert.private_key)
                 for cert in self.env["ops.certificate"].sudo().search([("fingerprint", "!=", False)])
                 if cert.fingerprint[:32] in used}
        return proxy.apply(self.env["ops.run"]._ops_settings(), servers, certs)

    @api.model
    def _ops_proxy_reload_after_commit(self):
        """Once this transaction is committed (a domain or certificate
        changed), load the front door again, from a transaction of its own."""
        data = self.env.cr.postcommit.data
        if data.get("ipai_ops.proxy_reload"):
            return
        data["ipai_ops.proxy_reload"] = True
        registry = self.env.registry

        @self.env.cr.postcommit.add
        def reload():
            with registry.cursor() as cr:
                # held in a name: the transaction flushes only the environments still alive at commit
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["ops.environment"]._ops_reconcile_proxy()

    @api.model
    def _ops_proxy_reload(self):
        """Load the front door from what is committed now, under its lock."""
        root = self.env["ops.run"]._ops_settings()["proxy_root"]
        with nginx.locked(root), self.env.registry.cursor() as cr:
            return self.with_env(self.env(cr=cr))._ops_proxy_apply()

    @api.model
    def _ops_refresh_hostnames(self):
        """Names and URLs after a change of the base domain or the public
        scheme and port (settings the hostname does not depend on)."""
        # sudo: every project's environments follow the platform's settings
        envs = self.sudo().search([("state", "!=", "destroyed")])
        before = {env.id: env.hostname for env in envs}
        envs._compute_hostname()
        for env in envs:
            if env.port and not env.internal_url:  # recorded before the front door
                env.internal_url = "http://127.0.0.1:%d" % env.port
            if env.url and env.port and (before[env.id] != env.hostname or env.url != env._ops_public_url()):
                env.url = env._ops_public_url()

    @api.model
    def _ops_reconcile_proxy(self):
        """Keep the front door in line with the environments (after a crash
        between a switch and its reload, a restart of the host, a new base
        domain): nginx started when it does not run, reloaded when what it
        serves differs from the records."""
        # The reload below reads what is committed: the names are refreshed
        # in a transaction of their own (the caller's stays the caller's).
        with self.env.registry.cursor() as cr:
            env = self.env(cr=cr)  # held in a name until flushed (Transaction.envs is weak)
            env["ops.environment"]._ops_refresh_hostnames()
            env.flush_all()
        try:
            return self._ops_proxy_reload()["status"]
        except nginx.NginxError as exc:
            _logger.error("ops proxy: %s", exc)
            return _("refused: %s", exc)

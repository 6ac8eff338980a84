"""`odoo-bin ops-proxy`: start (or stop) the platform's front door.

    odoo-bin --addons-path=ADDONS ops-proxy -c $OPS_CONF -d DB [--listen 127.0.0.1:8080]
        [--listen-tls 127.0.0.1:8443] [--base-domain ops.localhost]
        [--import-cert FULLCHAIN.pem KEY.pem [--project SLUG]] [--stop]

Saves --listen, --listen-tls and --base-domain (validated) as the
ipai_ops.proxy_listen, ipai_ops.proxy_listen_tls and ipai_ops.base_domain
parameters; --import-cert records a certificate and its key (the platform's,
or a project's with --project; the same names' older one is replaced: what
certbot's deploy hook calls after a renewal); renders nginx's configuration from the
environments, starts the platform's nginx (or reloads it) and prints each
running environment's URL. --stop stops it. The reconciliation cron keeps it
running and in line afterwards.
"""
# pylint: disable=print-used  # what an odoo-bin command prints is its output

import argparse
import sys

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.exceptions import UserError
from odoo.modules.registry import Registry

from ..services import nginx, nginx_config, tls


class OpsProxy(Command):
    """Start or stop the platform's nginx (the environments' hostnames)"""

    name = "ops-proxy"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-proxy", description=self.__doc__)
        parser.add_argument("--listen", help="address:port nginx listens on (ipai_ops.proxy_listen)")
        parser.add_argument("--base-domain", help="environments are <branch>.<project>.<this> (ipai_ops.base_domain)")
        parser.add_argument("--listen-tls", help="address:port for HTTPS (ipai_ops.proxy_listen_tls)")
        parser.add_argument("--import-cert", nargs=2, metavar=("FULLCHAIN", "KEY"),
                            help="PEM files of a certificate (its chain) and its private key")
        parser.add_argument("--project", help="with --import-cert: the project (slug) the certificate is for")
        parser.add_argument("--stop", action="store_true", help="stop the platform's nginx")
        opts, odoo_args = parser.parse_known_args(args)
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-proxy: give exactly one database with -d")
        try:
            for value in (opts.listen, opts.listen_tls):
                if value:
                    nginx_config.validate_listen(value)
            if opts.base_domain:
                nginx_config.validate_hostname(opts.base_domain)
            cert_pem, key_pem = _read_pems(opts.import_cert) if opts.import_cert else (None, None)
        except (ValueError, OSError) as exc:
            sys.exit("ops-proxy: %s" % exc)
        registry = Registry(dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            params = env["ir.config_parameter"]
            for key, value in (("ipai_ops.proxy_listen", opts.listen), ("ipai_ops.proxy_listen_tls", opts.listen_tls),
                               ("ipai_ops.base_domain", opts.base_domain)):
                if value and params.get_param(key) != value:
                    params.set_param(key, value)
            if cert_pem:
                try:
                    cert = _import_cert(env, cert_pem, key_pem, opts.project)
                except (ValueError, UserError) as exc:
                    sys.exit("ops-proxy: %s" % exc)
                print("ops-proxy: certificate for %s recorded (expires %s UTC)" % (cert.names, cert.not_after))
            settings = env["ops.run"]._ops_settings()
            if opts.stop:
                nginx.stop(settings["proxy_root"])
                print("ops-proxy: stopped the nginx of %s" % settings["proxy_root"])
                return
            Env = env["ops.environment"]
            Env._ops_refresh_hostnames()
            cr.commit()  # pylint: disable=invalid-commit  # a command of its own: the reload reads what is committed
            try:
                status = Env._ops_proxy_reload()["status"]
            except nginx.NginxError as exc:
                sys.exit("ops-proxy: %s" % exc)
            print("ops-proxy: nginx %s on %s (files in %s)" % (status, settings["proxy_listen"],
                                                               settings["proxy_root"]))
            for record in Env.search([("state", "=", "running"), ("url", "!=", False)], order="project_id, stage"):
                print("  %-40s %s" % (record.name, record.url))


def _read_pems(paths):
    with open(paths[0]) as cert_file, open(paths[1]) as key_file:
        return cert_file.read(), key_file.read()


def _import_cert(env, cert_pem, key_pem, project_slug):
    """Record the certificate; one of the same names and project it renews is removed."""
    project = env["ops.project"]
    if project_slug:
        project = project.search([("slug", "=", project_slug)])
        if not project:
            raise ValueError("no project %r" % project_slug)
    info = tls.inspect(cert_pem)
    Cert = env["ops.certificate"]
    renewed = Cert.search([("project_id", "=", project.id or False), ("names", "=", ",".join(info["names"]))])
    cert = Cert.search([("project_id", "=", project.id or False), ("fingerprint", "=", info["fingerprint"])])
    if not cert:
        cert = Cert.create({"project_id": project.id or False, "certificate": cert_pem, "private_key_upload": key_pem})
    (renewed - cert).unlink()
    return cert

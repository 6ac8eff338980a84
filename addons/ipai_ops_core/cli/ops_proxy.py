"""`odoo-bin ops-proxy`: start (or stop) the platform's front door.

    odoo-bin --addons-path=ADDONS ops-proxy -c odoo.conf -d DB [--listen 127.0.0.1:8080]
        [--base-domain ops.localhost] [--stop]

Saves --listen and --base-domain (validated) as the ipai_ops.proxy_listen and
ipai_ops.base_domain parameters, renders nginx's configuration from the
environments, starts the platform's nginx (or reloads it) and prints each
running environment's URL. --stop stops it. The reconciliation cron keeps it
running and in line afterwards.
"""

import argparse
import sys

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry

from ..services import nginx


class OpsProxy(Command):
    """Start or stop the platform's nginx (the environments' hostnames)"""

    name = "ops-proxy"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-proxy", description=self.__doc__)
        parser.add_argument("--listen", help="address:port nginx listens on (ipai_ops.proxy_listen)")
        parser.add_argument("--base-domain", help="environments are <branch>.<project>.<this> (ipai_ops.base_domain)")
        parser.add_argument("--stop", action="store_true", help="stop the platform's nginx")
        opts, odoo_args = parser.parse_known_args(args)
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-proxy: give exactly one database with -d")
        try:
            if opts.listen:
                nginx.validate_listen(opts.listen)
            if opts.base_domain:
                nginx.validate_hostname(opts.base_domain)
        except ValueError as exc:
            sys.exit("ops-proxy: %s" % exc)
        registry = Registry(dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            params = env["ir.config_parameter"]
            for key, value in (("ipai_ops.proxy_listen", opts.listen), ("ipai_ops.base_domain", opts.base_domain)):
                if value and params.get_param(key) != value:
                    params.set_param(key, value)
            settings = env["ops.run"]._ops_settings()
            if opts.stop:
                nginx.stop(settings["proxy_root"])
                print("ops-proxy: stopped the nginx of %s" % settings["proxy_root"])
                return
            Env = env["ops.environment"]
            Env._ops_refresh_hostnames()
            cr.commit()
            try:
                status = Env._ops_proxy_reload()["status"]
            except nginx.NginxError as exc:
                sys.exit("ops-proxy: %s" % exc)
            print("ops-proxy: nginx %s on %s (files in %s)" % (status, settings["proxy_listen"],
                                                               settings["proxy_root"]))
            for record in Env.search([("state", "=", "running"), ("url", "!=", False)], order="project_id, stage"):
                print("  %-40s %s" % (record.name, record.url))

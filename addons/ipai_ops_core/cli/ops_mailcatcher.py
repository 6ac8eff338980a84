"""`odoo-bin ops-mailcatcher`: keep the mail of development and staging.

    odoo-bin --addons-path=ADDONS ops-mailcatcher -c $OPS_CONF -d DB [--port 2525]

Listens on 127.0.0.1 (port: --port, else the ipai_ops.mail_catcher_port
parameter, default 2525). Environments log in as env-<id> with a password
derived from the control plane's secret; each message is stored as an
ops.mail of that environment, visible in its form.
"""
# pylint: disable=print-used  # what an odoo-bin command prints is its output

import argparse
import logging
import signal
import sys
import threading

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry

from ..services.mail_catcher import MailCatcher

_logger = logging.getLogger("odoo.addons.ipai_ops_core.ops_mailcatcher")


class OpsMailCatcher(Command):
    """Keep the mail development and staging environments send"""

    name = "ops-mailcatcher"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-mailcatcher", description=self.__doc__)
        parser.add_argument("--port", type=int)
        parser.add_argument("--listen", default="0.0.0.0", choices=("0.0.0.0", "127.0.0.1"),
                            help="0.0.0.0 (default: the environments' networks reach it) or 127.0.0.1")
        opts, odoo_args = parser.parse_known_args(args)
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-mailcatcher: give exactly one database with -d")
        registry = Registry(dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            port = opts.port or int(env["ir.config_parameter"].get_param("ipai_ops.mail_catcher_port") or 2525)

        def authenticate(user, password):
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})  # alive until the commit, which flushes it
                return env["ops.mail"]._ops_authenticate(user, password)

        def deliver(env_id, mail_from, rcpts, data):
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["ops.mail"]._ops_store(env_id, mail_from, rcpts, data)
                env.flush_all()

        server = MailCatcher(port, authenticate, deliver, host=opts.listen)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        server.start()
        _logger.info("ops-mailcatcher: listening on %s:%d for %s", opts.listen, port, dbname)
        print("ops-mailcatcher listening on %s:%d" % (opts.listen, port), flush=True)
        stop.wait()
        server.stop()

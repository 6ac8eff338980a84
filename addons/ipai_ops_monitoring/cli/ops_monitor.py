"""`odoo-bin ops-monitor`: the collector for the environments of one
Docker host, where the control plane's cron does not run (other hosts).

    odoo-bin --addons-path=ADDONS ops-monitor -c $OPS_CONF -d DB --host NAME [--interval 60] [--once]

Every interval (default 60 s, aligned on the minute): the running
environments of that host are collected (cgroups, request lines,
PostgreSQL, health), Docker events read, alert rules evaluated; webhook
deliveries that are due are sent. Runs on the Docker host itself: the
cgroup files and the environments' logs are read locally.
"""
# pylint: disable=print-used  # what an odoo-bin command prints is its output

import argparse
import json
import logging
import signal
import sys
import threading
import time

import odoo
from odoo import SUPERUSER_ID, api
from odoo.addons.ipai_ops_core.cli.ops_worker import current_registry
from odoo.cli import Command

_logger = logging.getLogger("odoo.addons.ipai_ops_monitoring.ops_monitor")


class OpsMonitor(Command):
    """Collect the metrics of one Docker host's environments every minute"""

    name = "ops-monitor"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-monitor", description=self.__doc__)
        parser.add_argument("--host", default="local", help="the ops.host whose environments to collect")
        parser.add_argument("--interval", type=int, default=60, help="seconds between collections (10 to 3600)")
        parser.add_argument("--once", action="store_true", help="collect once, print the result and exit")
        opts, odoo_args = parser.parse_known_args(args)
        if not 10 <= opts.interval <= 3600:
            sys.exit("ops-monitor: --interval is 10 to 3600 seconds")
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-monitor: give exactly one database with -d")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.is_set():
            # Each round sees the settings changed in the backend meanwhile (thresholds, channels).
            registry = current_registry(dbname)
            with registry.manage_changes(), registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                result = env["ops.environment"]._cron_collect_metrics(opts.host)
                env.flush_all()
            # A transaction of its own: it sees the deliveries the collection just committed.
            with registry.manage_changes(), registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                result["delivered"] = env["ops.incident"]._cron_deliver()
                env.flush_all()
            if opts.once:
                print(json.dumps(result))
                return
            _logger.info("ops-monitor %s: %s", opts.host, result)
            stop.wait(opts.interval - time.time() % opts.interval)

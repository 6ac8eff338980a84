"""18.0.1.4.0: environments no longer share the host's network.

Every environment gets a Docker network of its own (services/env_network.py).
Running environments made before still run on the host's network: a
``recreate`` run is queued for each, which starts a new container on the
environment's network from the same image and database and switches to it
like a build (the URL answers throughout), then removes the old one. A
stopped environment moves when it is started.
"""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    runs = env["ops.environment"]._ops_move_off_host_network()
    _logger.info("ipai_ops 18.0.1.4.0: %d environments queued to move to networks of their own", len(runs))

"""What a test database made again must not inherit from its earlier run
(scripts/test.sh): its control plane's containers and networks on the
Docker engine, the pg_hba.conf sections of the plane (its own and its swarm
hosts') and its firewall chains. A fresh database gives the same
environment ids out again: a stale network or container would take a new
environment's name, and a stale line would admit a new environment's role.

    python scripts/forget_planes.py DB [DB ...]   (PYTHONPATH: Odoo's tree)
"""

import os
import sys

import odoo.addons

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
odoo.addons.__path__[:0] = [os.path.join(REPO, "addons"), os.path.join(os.environ["ODOO_SRC"], "addons")]

from odoo.addons.ipai_ops_core.services import firewall, naming  # noqa: E402
from odoo.addons.ipai_ops_core.services.postgres import access  # noqa: E402


def main(names):
    admin = {"host": os.environ["OPS_DB_HOST"], "port": int(os.environ["OPS_DB_PORT"]),
             "user": os.environ["OPS_DB_USER"], "password": os.environ["OPS_DB_PASSWORD"]}
    for name in names:
        plane = naming.namespace_for(name)
        gone = access.forget(admin, plane)
        if gone:
            print("%s (%s): pg_hba.conf sections removed: %s" % (name, plane, ", ".join(gone)))
        if os.environ.get("OPS_SKIP_DOCKER") != "1":
            forget_on_docker(plane)
            firewall.remove(plane)


def forget_on_docker(plane):
    """The plane's containers, then its networks (a network goes once nothing is attached)."""
    import docker  # noqa: PLC0415 - only where there is an engine (OPS_SKIP_DOCKER)

    client = docker.from_env()
    ours = {"label": "ipai-ops.plane=%s" % plane}
    for container in client.containers.list(all=True, filters=ours):
        container.remove(force=True)
    for network in client.networks.list(filters=ours):
        network.remove()


if __name__ == "__main__":
    main(sys.argv[1:])

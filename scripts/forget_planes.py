"""What a test database made again must not inherit from its earlier run
(scripts/test.sh): the pg_hba.conf sections of its control plane (its own
and its swarm hosts') and its firewall chains. A fresh database gives the
same environment ids out again, and a stale line would admit a new
environment's role. Its containers and networks are removed by
scripts/test.sh itself.

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
            firewall.remove(plane)


if __name__ == "__main__":
    main(sys.argv[1:])

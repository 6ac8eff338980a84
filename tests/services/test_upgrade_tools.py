"""services/upgrade_tools.py against the real runtime image: what the
upgrade scan reads of a version's Odoo."""

import os

from odoo.addons.ipai_ops_core.services import runtime, upgrade_tools

IMAGE = "ipai-ops/odoo:18.0"  # built from $ODOO_SRC by the suite's setup


def test_core_modules_are_every_module_the_image_ships():
    """All of them, not the listing's last lines (the engine gives back
    only those): a scan would call `base` a module the target lost."""
    source = os.environ["ODOO_SRC"]
    shipped = {name for folder in (os.path.join(source, "addons"), os.path.join(source, "odoo", "addons"))
               for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name, "__manifest__.py"))}
    found = upgrade_tools.core_modules(runtime.connect(timeout=300), IMAGE, "ipai-ops-test-core-modules",
                                       runtime.labels_for("test", role="core-modules"))
    assert len(shipped) > 500 and shipped <= found, sorted(shipped - found)[:10]
    assert {"base", "web", "account"} <= found
